import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  GRID_KEYS,
  Tree,
  choices,
  gridTileForKey,
  initialPath,
  keyAction,
} from "../../static/frontend/js/keymap.js";

// vehicle(1): airplane(3), truck(4); animal(2): cat(5), dog(6), frog(7) -- the test taxonomy.
const nodes = [
  { id: 2, name: "animal", parent: null, position: 1, is_leaf: false },
  { id: 1, name: "vehicle", parent: null, position: 0, is_leaf: false },
  { id: 3, name: "airplane", parent: 1, position: 0, is_leaf: true },
  { id: 4, name: "truck", parent: 1, position: 1, is_leaf: true },
  { id: 7, name: "frog", parent: 2, position: 2, is_leaf: true },
  { id: 5, name: "cat", parent: 2, position: 0, is_leaf: true },
  { id: 6, name: "dog", parent: 2, position: 1, is_leaf: true },
];
const tree = new Tree(nodes);
const prediction = {
  node: 6,
  settled_depth: 1,
  levels: [
    { node: 2, p: 0.97 },
    { node: 6, p: 0.6 },
  ],
};

describe("choices", () => {
  test("start at the top, in position order, keyed 1, 2, ...", () => {
    const offered = choices(tree, []);
    assert.deepEqual(
      offered.map(({ key, node }) => [key, node.name]),
      [
        ["1", "vehicle"],
        ["2", "animal"],
      ],
    );
  });

  test("below a picked node only its children are offered", () => {
    assert.deepEqual(
      choices(tree, [2]).map(({ node }) => node.name),
      ["cat", "dog", "frog"],
    );
  });

  test("the tenth choice is 0 and there is no eleventh", () => {
    const many = [{ id: 100, name: "root", parent: null, position: 0, is_leaf: false }];
    for (let i = 0; i < 12; i++) {
      many.push({ id: 200 + i, name: `leaf${i}`, parent: 100, position: i, is_leaf: true });
    }
    const offered = choices(new Tree(many), [100]);
    assert.equal(offered.length, 10);
    assert.equal(offered[9].key, "0");
  });
});

describe("initialPath", () => {
  test("fine mode settles the prediction's first levels", () => {
    assert.deepEqual(initialPath({ mode: "fine", prediction }), [2]);
  });

  test("full and verify modes start at the top", () => {
    assert.deepEqual(initialPath({ mode: "full", prediction }), []);
    assert.deepEqual(initialPath({ mode: "verify", prediction }), []);
    assert.deepEqual(initialPath({ mode: "full", prediction: null }), []);
  });
});

describe("keyAction", () => {
  test("Enter confirms the whole prediction", () => {
    assert.deepEqual(keyAction("Enter", { tree, path: [], prediction }), { type: "submit", node: 6 });
  });

  test("Enter does nothing without a prediction", () => {
    assert.equal(keyAction("Enter", { tree, path: [], prediction: null }), null);
  });

  test("a digit on an inner node descends, on a leaf submits", () => {
    assert.deepEqual(keyAction("2", { tree, path: [], prediction: null }), { type: "path", path: [2] });
    assert.deepEqual(keyAction("3", { tree, path: [2], prediction: null }), { type: "submit", node: 7 });
  });

  test("a digit with nothing behind it is ignored", () => {
    assert.equal(keyAction("4", { tree, path: [2], prediction: null }), null);
    assert.equal(keyAction("3", { tree, path: [], prediction: null }), null);
  });

  test("C answers the picked inner node: coarse only", () => {
    assert.deepEqual(keyAction("c", { tree, path: [1], prediction: null }), { type: "submit", node: 1 });
    assert.deepEqual(keyAction("C", { tree, path: [1], prediction }), { type: "submit", node: 1 });
  });

  test("C with nothing picked answers the predicted top node, or nothing", () => {
    assert.deepEqual(keyAction("c", { tree, path: [], prediction }), { type: "submit", node: 2 });
    assert.equal(keyAction("c", { tree, path: [], prediction: null }), null);
  });

  test("Backspace and Escape back up one level, not past the top", () => {
    assert.deepEqual(keyAction("Backspace", { tree, path: [2], prediction }), { type: "path", path: [] });
    assert.deepEqual(keyAction("Escape", { tree, path: [2], prediction }), { type: "path", path: [] });
    assert.equal(keyAction("Backspace", { tree, path: [], prediction }), null);
  });

  test("S skips, U undoes, other keys mean nothing", () => {
    assert.deepEqual(keyAction("s", { tree, path: [], prediction }), { type: "skip" });
    assert.deepEqual(keyAction("U", { tree, path: [], prediction }), { type: "undo" });
    assert.equal(keyAction("x", { tree, path: [], prediction }), null);
    assert.equal(keyAction("Shift", { tree, path: [], prediction }), null);
  });

  test("G and ? toggle the guide, Z the zoom, whatever is picked", () => {
    for (const key of ["g", "G", "?"]) {
      assert.deepEqual(keyAction(key, { tree, path: [2], prediction }), { type: "guide" });
    }
    assert.deepEqual(keyAction("Z", { tree, path: [], prediction: null }), { type: "zoom" });
  });

  test("works at any depth", () => {
    const deep = new Tree([
      { id: 1, name: "a", parent: null, position: 0, is_leaf: false },
      { id: 2, name: "b", parent: 1, position: 0, is_leaf: false },
      { id: 3, name: "c", parent: 2, position: 0, is_leaf: true },
    ]);
    let path = [];
    let action = keyAction("1", { tree: deep, path, prediction: null });
    path = action.path;
    action = keyAction("1", { tree: deep, path, prediction: null });
    assert.deepEqual(action, { type: "path", path: [1, 2] });
    assert.deepEqual(keyAction("1", { tree: deep, path: action.path, prediction: null }), {
      type: "submit",
      node: 3,
    });
  });
});

describe("grid keys", () => {
  test("24 distinct keys, mapped to tiles that exist", () => {
    assert.equal(new Set(GRID_KEYS).size, 24);
    assert.equal(gridTileForKey("1", 24), 0);
    assert.equal(gridTileForKey("Q", 24), 10);
    assert.equal(gridTileForKey("f", 24), 23);
    assert.equal(gridTileForKey("f", 12), null);
    assert.equal(gridTileForKey("Enter", 24), null);
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";

import { taxonomyJson } from "../../static/frontend/js/tree-editor.js";

const leaf = (name) => ({ name, children: [] });
const inner = (name, ...children) => ({ name, children });

test("lists just above the leaves, objects above them, and level names when given", () => {
  const classes = [inner("animal", leaf("cat"), leaf(" dog ")), inner("vehicle", leaf("ship"))];
  assert.deepEqual(taxonomyJson(classes, ["kind", "species"]), {
    levels: ["kind", "species"],
    tree: { animal: ["cat", "dog"], vehicle: ["ship"] },
  });
  assert.deepEqual(taxonomyJson([leaf("cat"), leaf("dog")]), { tree: ["cat", "dog"] });
});

test("a leaf beside inner classes becomes an empty list, which the server names", () => {
  const classes = [inner("animal", inner("pet", leaf("cat")), leaf("wolf"))];
  assert.deepEqual(taxonomyJson(classes).tree, { animal: { pet: ["cat"], wolf: [] } });
});

test("a name twice under one parent is refused, not merged away", () => {
  const classes = [inner("animal", leaf("cat")), inner("vehicle", leaf("bus"), leaf("bus "))];
  assert.throws(() => taxonomyJson(classes), /'bus' appears twice under 'vehicle'/);
  assert.throws(() => taxonomyJson([leaf("a"), leaf("a")]), /twice under the top level/);
});

// What a key does on the labeling screen. Pure functions of the taxonomy, the prediction
// and the path picked so far, so they run (and are tested) without a browser.

export const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];

export const SHORTCUTS = [
  ["Enter", "confirm the whole prediction"],
  ["1–9, 0", "pick a class; then its children are offered"],
  ["C", "coarse only: answer the class picked so far"],
  ["Backspace", "back up one level"],
  ["S", "skip this image"],
  ["U", "undo the last answer"],
  ["G or ?", "open or close the labeling guide"],
  ["Z", "zoom: whole image or 1:1 (wheel zooms, drag pans)"],
];

/** The project's taxonomy as a tree: children in display order, lookups by id. */
export class Tree {
  constructor(nodes) {
    this.byId = new Map(nodes.map((node) => [node.id, node]));
    this.childrenOf = new Map();
    for (const node of nodes) {
      const siblings = this.childrenOf.get(node.parent ?? null) ?? [];
      siblings.push(node);
      this.childrenOf.set(node.parent ?? null, siblings);
    }
    for (const siblings of this.childrenOf.values()) {
      siblings.sort((a, b) => a.position - b.position || a.id - b.id);
    }
  }

  node(id) {
    return this.byId.get(id);
  }

  children(id) {
    return this.childrenOf.get(id ?? null) ?? [];
  }
}

/** Nodes already settled when an item is shown: in "fine" mode, the prediction's first
 * settled_depth levels; otherwise none, and the choice starts at the top. */
export function initialPath(task) {
  if (task.mode !== "fine" || !task.prediction) return [];
  return task.prediction.levels.slice(0, task.prediction.settled_depth).map((level) => level.node);
}

/** The nodes offered under the path picked so far, each with its key. */
export function choices(tree, path) {
  return tree
    .children(path.at(-1) ?? null)
    .slice(0, DIGITS.length)
    .map((node, index) => ({ key: DIGITS[index], node }));
}

/**
 * The action for a key: {type: "submit", node}, {type: "path", path} (descend or back up),
 * {type: "skip"}, {type: "undo"}, {type: "guide"}, {type: "zoom"} or null when the key means
 * nothing here.
 */
export function keyAction(key, { tree, path, prediction }) {
  if (key === "Enter") return prediction ? { type: "submit", node: prediction.node } : null;
  const digit = DIGITS.indexOf(key);
  if (digit >= 0) {
    const offered = choices(tree, path)[digit];
    if (!offered) return null;
    return offered.node.is_leaf
      ? { type: "submit", node: offered.node.id }
      : { type: "path", path: [...path, offered.node.id] };
  }
  switch (key.toLowerCase()) {
    case "c": {
      // Coarse only: the deepest class picked (or settled); with none, the predicted top.
      const node = path.at(-1) ?? prediction?.levels[0]?.node;
      return node === undefined ? null : { type: "submit", node };
    }
    case "backspace":
    case "escape":
      return path.length ? { type: "path", path: path.slice(0, -1) } : null;
    case "s":
      return { type: "skip" };
    case "u":
      return { type: "undo" };
    case "g":
    case "?":
      return { type: "guide" };
    case "z":
      return { type: "zoom" };
    default:
      return null;
  }
}

// The grid page: one key per tile, in keyboard rows, so a page of 24 needs no mouse.
export const GRID_KEYS = [..."1234567890qwertyuiopasdf"];

export function gridTileForKey(key, tileCount) {
  const index = GRID_KEYS.indexOf(key.toLowerCase());
  return index >= 0 && index < tileCount ? index : null;
}

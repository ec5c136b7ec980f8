// The taxonomy editor for leads: the tree with counts per class, changes collected one by
// one and previewed by the server (a dry run of the versioning service), then saved as a
// new version; and the version history.
import { get, getAll, post } from "../api.js";
import { el, pageData, say } from "../dom.js";

const { project } = pageData();
const $ = (id) => document.getElementById(id);
const base = `/api/projects/${project}/taxonomy/`;

const HELP = {
  add: "A new class at the leaf level, under a class one level up. Nothing is asked again.",
  rename: "Answers follow the class; classes below it are renamed along.",
  move: "The class and everything below it go under another parent at the same level; answers follow.",
  split: "One class becomes several. Nobody can tell which new class an old answer meant: its answers are kept one level up and its items go back to the queue.",
  merge: "Sibling classes become one; their answers are pooled.",
};
const KINDS = {
  same: "renamed or moved; its answers follow",
  merged: "merged; its answers are pooled",
  coarsened: "split; its answers stay here and its items go back to the queue",
};

let counted = null; // the counts response: the saved taxonomy
let changes = [];
let preview = null; // the server's preview of `changes`

const nodes = () => preview?.nodes ?? counted.nodes;
const leafDepth = () => Math.max(...nodes().map((node) => node.depth));
const parentPath = (path) => path.split("/").slice(0, -1).join("/");
const names = (text) => text.split(",").map((name) => name.trim()).filter(Boolean);

/** Parents before children, siblings in order: the order a tree is read in. */
function treeOrder(list) {
  const children = new Map();
  for (const node of list) {
    const siblings = children.get(node.parent ?? null) ?? [];
    siblings.push(node);
    children.set(node.parent ?? null, siblings);
  }
  const ordered = [];
  const walk = (parent) => {
    for (const node of (children.get(parent) ?? []).sort((a, b) => a.position - b.position)) {
      ordered.push(node);
      walk(node.id);
    }
  };
  walk(null);
  return ordered;
}

function nodeSelect(name, label, list, { multiple = false, empty = null } = {}) {
  return el(
    "label",
    {},
    `${label} `,
    el(
      "select",
      { name, multiple, size: multiple ? Math.min(list.length, 6) : false, required: true },
      empty === null ? null : el("option", { value: "" }, empty),
      // In the tree's order (the list may leave out the parents).
      treeOrder(nodes())
        .filter((node) => list.includes(node))
        .map((node) => el("option", { value: node.path }, node.path)),
    ),
  );
}

const textInput = (name, label, placeholder = "") =>
  el("label", {}, `${label} `, el("input", { name, required: true, placeholder, autocomplete: "off" }));

function renderFields() {
  const op = $("op").value;
  const all = nodes();
  const depth = leafDepth();
  const inner = all.filter((node) => node.depth < depth);
  const fields = {
    add: () => [
      nodeSelect("parent", "Parent", inner.filter((node) => node.depth === depth - 1), {
        empty: depth === 1 ? "(top level)" : null,
      }),
      textInput("name", "Name"),
    ],
    rename: () => [nodeSelect("path", "Class", all), textInput("new_name", "New name")],
    move: () => [
      nodeSelect("path", "Class", all.filter((node) => node.depth > 1)),
      nodeSelect("parent", "New parent", inner),
    ],
    split: () => [
      nodeSelect("path", "Class", all.filter((node) => node.is_leaf && node.depth > 1)),
      textInput("into", "New classes", "comma-separated, e.g. tabby, siamese"),
    ],
    merge: () => [
      nodeSelect("paths", "Classes (siblings)", all, { multiple: true }),
      textInput("into", "Merged name"),
    ],
  };
  $("op-help").textContent = HELP[op];
  $("op-fields").replaceChildren(...fields[op]());
}

function readChange(form) {
  const value = (name) => form.elements[name]?.value.trim() ?? "";
  const op = value("op");
  switch (op) {
    case "add":
      return { op, parent: value("parent"), name: value("name") };
    case "rename":
      return { op, path: value("path"), new_name: value("new_name") };
    case "move":
      return { op, path: value("path"), parent: value("parent") };
    case "split":
      return { op, path: value("path"), into: names(value("into")) };
    default: {
      const paths = [...form.elements.paths.selectedOptions].map((option) => option.value);
      const parent = paths.length ? parentPath(paths[0]) : "";
      return { op, paths, into: parent ? `${parent}/${value("into")}` : value("into") };
    }
  }
}

function describe(change) {
  switch (change.op) {
    case "add":
      return `add ${change.parent ? `${change.parent}/` : ""}${change.name}`;
    case "rename":
      return `rename ${change.path} to ${change.new_name}`;
    case "move":
      return `move ${change.path} under ${change.parent}`;
    case "split":
      return `split ${change.path} into ${change.into.join(", ")}`;
    case "merge":
      return `merge ${change.paths.join(", ")} into ${change.into}`;
    default:
      return JSON.stringify(change);
  }
}

const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;

function renderChanges() {
  $("changes").replaceChildren(
    ...(changes.length ? changes.map((change) => el("li", {}, describe(change))) : [el("li", { class: "muted" }, "None yet.")]),
  );
  $("save").disabled = !preview;
  $("discard").disabled = !changes.length;
  if (!preview) {
    $("preview").replaceChildren();
    return;
  }
  const before = new Set(counted.nodes.map((node) => node.path));
  const landed = new Set(preview.remapped.map((row) => row.new_path));
  const added = preview.nodes.filter((node) => !before.has(node.path) && !landed.has(node.path));
  $("preview").replaceChildren(
    el("h3", {}, `Preview of version ${preview.version}`),
    el(
      "ul",
      { id: "remapped" },
      preview.remapped.map((row) =>
        el("li", {}, `${row.old_path} → ${row.new_path}: ${KINDS[row.kind]} (${plural(row.answers, "answer")})`),
      ),
      added.map((node) => el("li", {}, `${node.path}: new`)),
    ),
    el(
      "p",
      { id: "requeued", class: preview.items_requeued ? "warning" : "" },
      `${plural(preview.annotations_remapped, "answer")} move to the new version; `,
      `${plural(preview.items_requeued, "item")} go back to the queue`,
      preview.ground_truth_cleared ? `; ${plural(preview.ground_truth_cleared, "ground-truth label")} cleared` : "",
      ".",
    ),
  );
}

function renderTree() {
  $("version").textContent = `v${counted.version}`;
  $("counts-note").textContent =
    `Counts cover each class and everything below it. Predicted and left: by model ${counted.model_version ? `v${counted.model_version}` : "(none yet)"}; ${counted.unlabeled} items are unlabeled in all.`;
  $("tree").replaceChildren(
    ...treeOrder(counted.nodes).map((node) =>
      el(
        "tr",
        { "data-path": node.path },
        el("td", { style: `padding-left: ${0.6 + 1.2 * (node.depth - 1)}rem` }, node.name, node.is_leaf ? "" : " ›"),
        ...["human", "auto", "predicted", "left"].map((name) => el("td", { class: "num" }, node[name])),
      ),
    ),
  );
}

async function loadHistory() {
  const versions = await getAll(`${base}versions/?page_size=100`);
  $("history").replaceChildren(
    ...versions.map((version) =>
      el(
        "tr",
        {},
        el("td", {}, `v${version.version}`),
        el("td", {}, new Date(version.created_at).toLocaleString()),
        el("td", {}, version.created_by ?? "–"),
        el("td", { class: "num" }, version.nodes),
        el("td", {}, version.changes.length ? version.changes.map(describe).join("; ") : "first version"),
      ),
    ),
  );
}

async function load() {
  counted = await get(`${base}counts/`);
  renderTree();
  renderFields();
  renderChanges();
}

$("op").addEventListener("change", renderFields);

$("edit-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const candidate = [...changes, readChange(event.target)];
  try {
    const response = await post(`${base}versions/preview/`, { changes: candidate });
    changes = candidate;
    preview = response.data;
    say($("message"), "Previewed: nothing is saved until you save.");
    renderChanges();
    renderFields();
  } catch (error) {
    say($("message"), error.message, "error");
  }
});

$("discard").addEventListener("click", () => {
  changes = [];
  preview = null;
  say($("message"), "Changes discarded.");
  renderChanges();
  renderFields();
});

$("save").addEventListener("click", async () => {
  $("save").disabled = true;
  try {
    const { data } = await post(`${base}versions/`, { changes });
    changes = [];
    preview = null;
    say($("message"), `Saved version ${data.version}: ${plural(data.annotations_remapped, "answer")} moved, ${plural(data.items_requeued, "item")} back in the queue.`, "ok");
    await Promise.all([load(), loadHistory()]);
  } catch (error) {
    say($("message"), error.message, "error");
    $("save").disabled = false;
  }
});

try {
  await Promise.all([load(), loadHistory()]);
} catch (error) {
  say($("message"), `Could not load the taxonomy: ${error.message}`, "error");
}

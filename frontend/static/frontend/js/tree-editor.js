// A small taxonomy editor: classes as {name, children}, edited in place, written out in
// the JSON format the API and the CLI read ({"levels": [...], "tree": {...}}), so the
// server's parser checks what it makes like any uploaded file.
import { el } from "./dom.js";

/** The JSON format for these classes: an object at inner levels, a list of names just
 * above the leaves. A name twice under one parent would vanish in an object, so it is
 * refused here; the rest (empty names, leaves at different depths) the server explains. */
export function taxonomyJson(classes, levels = []) {
  const children = (nodes, path) => {
    const names = nodes.map((node) => node.name.trim());
    const twice = names.find((name, index) => names.indexOf(name) !== index);
    if (twice !== undefined) {
      throw new Error(`The name '${twice}' appears twice under ${path ? `'${path}'` : "the top level"}.`);
    }
    if (nodes.every((node) => node.children.length === 0)) return names;
    return Object.fromEntries(
      nodes.map((node, index) => [names[index], children(node.children, path ? `${path}/${names[index]}` : names[index])]),
    );
  };
  return levels.length ? { levels, tree: children(classes, "") } : { tree: children(classes, "") };
}

/** Draw the editor for ``classes`` into ``list`` (a <ul>); ``changed`` runs after each
 * edit. Renames update in place, so the field being typed in keeps its focus. */
export function treeEditor(list, classes, changed) {
  const describe = (node) => (node.name.trim() ? `'${node.name.trim()}'` : "this class");

  function item(node, siblings, number) {
    const addChild = el("button", { type: "button" }, "Add child");
    const remove = el("button", { type: "button" }, "Remove");
    const label = () => {
      addChild.setAttribute("aria-label", `Add a class under ${describe(node)}`);
      remove.setAttribute("aria-label", `Remove ${describe(node)}`);
    };
    const name = el("input", {
      value: node.name,
      "aria-label": `Name of class ${number}`,
      maxlength: 100,
      oninput: (event) => {
        node.name = event.target.value;
        label();
        changed();
      },
    });
    addChild.addEventListener("click", () => add(node.children));
    remove.addEventListener("click", () => {
      siblings.splice(siblings.indexOf(node), 1);
      draw();
    });
    label();
    return el(
      "li",
      {},
      el("span", { class: "tree-row" }, name, addChild, remove),
      node.children.length ? branch(node.children, number) : null,
    );
  }

  function branch(nodes, prefix) {
    return el("ul", {}, nodes.map((node, index) => item(node, nodes, prefix ? `${prefix}.${index + 1}` : `${index + 1}`)));
  }

  function add(nodes) {
    const node = { name: "", children: [] };
    nodes.push(node);
    draw();
    list.querySelectorAll("input")[flatIndex(classes, node)]?.focus();
  }

  function draw() {
    list.replaceChildren(...branch(classes, "").children);
    changed();
  }

  draw();
  return { addTopLevel: () => add(classes) };
}

/** The position of ``target`` in the classes read depth first, as the inputs are drawn. */
function flatIndex(nodes, target) {
  let index = 0;
  const visit = (level) => {
    for (const node of level) {
      if (node === target) return true;
      index += 1;
      if (visit(node.children)) return true;
    }
    return false;
  };
  return visit(nodes) ? index : -1;
}

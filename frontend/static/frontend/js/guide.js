// The labeling guide, as the guide page and the labeling page's drawer show it: per class
// its definition, typical examples, and the classes it is confused with, each with an
// example. Leads also write definitions and pin or remove examples here.
import { get, patch, request } from "./api.js";
import { el, say } from "./dom.js";

/** The guide of a project: node id -> {node, definition, examples, confused_with}. */
export async function guideLoad(project) {
  const entries = await get(`/api/projects/${project}/guide/`);
  return new Map(entries.map((entry) => [entry.node.id, entry]));
}

function thumbnail(example, caption) {
  return el(
    "figure",
    { class: "example" },
    el("img", { src: example.image_url, alt: `Item ${example.item}`, width: 96, height: 96 }),
    caption ? el("figcaption", {}, caption) : null,
  );
}

function exampleTools(example, { project, message, reload }) {
  const act = async (body, done) => {
    try {
      await patch(`/api/guide-examples/${example.id}/`, body);
      say(message, done, "ok");
      await reload();
    } catch (error) {
      say(message, error.message, "error");
    }
  };
  return el(
    "span",
    { class: "example-tools" },
    el(
      "button",
      { type: "button", onclick: () => act({ pinned: !example.pinned }, example.pinned ? "Unpinned." : "Pinned: it stays after retrains.") },
      example.pinned ? "Unpin" : "Pin",
    ),
    el(
      "button",
      { type: "button", onclick: () => act({ removed: true }, "Removed: it will not be chosen again.") },
      "Remove",
    ),
  );
}

function definitionEditor(entry, { project, message, reload }) {
  const area = el("textarea", { rows: 2, maxlength: 2000, "aria-label": `Definition of ${entry.node.path}` });
  area.value = entry.definition;
  const save = async () => {
    try {
      await request("PATCH", `/api/projects/${project}/guide/`, { node: entry.node.id, definition: area.value });
      say(message, `Saved the definition of ${entry.node.path}.`, "ok");
      await reload();
    } catch (error) {
      say(message, error.message, "error");
    }
  };
  return el("div", { class: "definition-editor" }, area, el("button", { type: "button", onclick: save }, "Save definition"));
}

/** One class of the guide. With ``manage``, its definition and examples can be edited. */
export function guideEntry(entry, { manage = false, project, message, reload } = {}) {
  const tools = { project, message, reload };
  const examples = entry.examples.map((example) =>
    el("li", { class: example.pinned ? "pinned" : "" }, thumbnail(example, example.pinned ? "pinned" : ""), manage ? exampleTools(example, tools) : null),
  );
  return el(
    "article",
    { class: "guide-entry", id: `guide-${entry.node.id}`, "data-path": entry.node.path },
    el("h3", {}, entry.node.path),
    manage
      ? definitionEditor(entry, tools)
      : el("p", { class: entry.definition ? "definition" : "definition muted" }, entry.definition || "No definition yet."),
    examples.length
      ? el("ul", { class: "examples" }, examples)
      : el("p", { class: "muted" }, "No examples yet: they are chosen after the next retrain."),
    entry.confused_with.length
      ? el(
          "div",
          { class: "confused" },
          el("h4", {}, "Often confused with"),
          el(
            "ul",
            { class: "examples" },
            entry.confused_with.map((other) =>
              el("li", {}, thumbnail(other.example, `${other.path} (${other.confusions}×)`), manage ? exampleTools(other.example, tools) : null),
            ),
          ),
        )
      : null,
  );
}

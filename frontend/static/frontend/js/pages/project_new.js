// New project: a name, a lead and a taxonomy from a file, a paste or the tree editor,
// sent as text to the API, whose parser (the CLI's) explains anything it refuses.
import { post } from "../api.js";
import { errorText, say } from "../dom.js";
import { taxonomyJson, treeEditor } from "../tree-editor.js";

const $ = (id) => document.getElementById(id);
const form = $("project-form");
const message = $("message");
const classes = [];

function source() {
  return form.elements.source.value;
}

function levelNames() {
  return form.elements.levels.value.split(",").map((name) => name.trim()).filter(Boolean);
}

function showSource() {
  for (const panel of form.querySelectorAll("[data-source]")) panel.hidden = panel.dataset.source !== source();
}

function showJson() {
  try {
    $("tree-json").textContent = JSON.stringify(taxonomyJson(classes, levelNames()), null, 2);
  } catch (error) {
    $("tree-json").textContent = error.message;
  }
}

/** {text, format} of the chosen source; throws an Error with a message for the user. */
async function taxonomyText() {
  if (source() === "editor") {
    if (!classes.length) throw new Error("Add at least one class to the tree.");
    return { text: JSON.stringify(taxonomyJson(classes, levelNames())), format: "json" };
  }
  if (source() === "paste") {
    const text = form.elements.text.value;
    if (!text.trim()) throw new Error("Paste the taxonomy first.");
    return { text, format: form.elements.format.value };
  }
  const [file] = form.elements.file.files;
  if (!file) throw new Error("Choose a taxonomy file.");
  const format = file.name.toLowerCase().split(".").pop();
  if (format !== "json" && format !== "csv") throw new Error(`${file.name}: the taxonomy must be a .json or .csv file.`);
  return { text: await file.text(), format };
}

const editor = treeEditor($("tree"), classes, showJson);
$("add-top-level").addEventListener("click", () => editor.addTopLevel());
form.elements.levels.addEventListener("input", showJson);
for (const radio of form.elements.source) radio.addEventListener("change", showSource);
showSource();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const { text, format } = await taxonomyText();
    const body = {
      name: form.elements.name.value,
      description: form.elements.description.value,
      lead: form.elements.lead.value.trim(),
      [format === "csv" ? "taxonomy_csv" : "taxonomy_json"]: text,
    };
    // The editor writes its level names into the JSON; a JSON file with them is refused.
    if (source() !== "editor" && levelNames().length) body.levels = levelNames();
    say(message, "Creating…");
    const { data: project } = await post("/api/projects/", body);
    say(message, "");
    form.remove();
    $("created-title").textContent = `Project “${project.name}” created`;
    for (const page of ["import", "members", "settings"]) $(`next-${page}`).href = `/projects/${project.id}/${page}/`;
    $("created").hidden = false;
  } catch (error) {
    say(message, errorText(error), "error");
  } finally {
    button.disabled = false;
  }
});

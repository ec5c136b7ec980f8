// Project settings: PATCH only what changed; budgets are for admins alone (the API agrees).
import { get, patch } from "../api.js";
import { pageData, say } from "../dom.js";

const { project, is_admin: isAdmin } = pageData();
const form = document.getElementById("settings-form");
const message = document.getElementById("message");
const NULLABLE = new Set(["max_human_annotations", "daily_quota_per_annotator"]);
let saved = {};

function read(input) {
  if (input.type === "checkbox") return input.checked;
  if (input.type === "number") return input.value === "" ? null : Number(input.value);
  return input.value;
}

function fill(settings) {
  saved = settings;
  for (const input of form.querySelectorAll("input[name]")) {
    const value = settings[input.name];
    if (input.type === "checkbox") input.checked = Boolean(value);
    else input.value = value ?? "";
  }
}

document.getElementById("budget-fields").disabled = !isAdmin;
document.getElementById("budget-note").hidden = isAdmin;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const changes = {};
  for (const input of form.querySelectorAll("input[name]:not(:disabled)")) {
    const value = read(input);
    if (value === null && !NULLABLE.has(input.name)) continue;
    if (value !== saved[input.name]) changes[input.name] = value;
  }
  if (!Object.keys(changes).length) {
    say(message, "Nothing changed.");
    return;
  }
  try {
    fill(await patch(`/api/projects/${project}/`, changes));
    say(message, `Saved: ${Object.keys(changes).join(", ")}.`, "ok");
  } catch (error) {
    const fields = error.data && typeof error.data === "object" ? Object.entries(error.data) : [];
    say(message, fields.map(([name, text]) => `${name}: ${[text].flat().join(" ")}`).join("; ") || error.message, "error");
  }
});

fill(await get(`/api/projects/${project}/`));

// Project settings: PATCH only what changed; budgets are for admins alone (the API agrees).
import { get, patch, post, request } from "../api.js";
import { el, errorText, pageData, percent, say } from "../dom.js";

const { project, is_admin: isAdmin } = pageData();
const form = document.getElementById("settings-form");
const message = document.getElementById("message");
const NULLABLE = new Set(["max_human_annotations", "daily_quota_per_annotator"]);
let saved = {};

const FIELDS = "input[name], select[name]";

function read(input) {
  if (input.type === "checkbox") return input.checked;
  if (input.type === "number" || input.dataset.type === "number") {
    return input.value === "" ? null : Number(input.value);
  }
  return input.value;
}

/** A select's line of explanation: its chosen option's. */
function explain(select) {
  const help = document.getElementById(select.getAttribute("aria-describedby"));
  if (help) help.textContent = select.selectedOptions[0]?.dataset.help ?? "";
}

function fill(settings) {
  saved = settings;
  for (const input of form.querySelectorAll(FIELDS)) {
    const value = settings[input.name];
    if (input.type === "checkbox") input.checked = Boolean(value);
    else if (input.tagName === "SELECT") {
      // A value set through the API that the list lacks is still shown as it is.
      if (![...input.options].some((option) => Number(option.value) === value || option.value === value)) {
        input.append(el("option", { value }, String(value)));
      }
      input.value = String(value);
      explain(input);
    } else input.value = value ?? "";
  }
}

for (const select of form.querySelectorAll("select[name]")) {
  select.addEventListener("change", () => explain(select));
}

document.getElementById("budget-fields").disabled = !isAdmin;
document.getElementById("budget-note").hidden = isAdmin;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const changes = {};
  for (const input of form.querySelectorAll("input[name]:not(:disabled), select[name]:not(:disabled)")) {
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
    say(message, errorText(error), "error");
  }
});

fill(await get(`/api/projects/${project}/`));

/** The threshold the cascade uses now and the precision its audit measured, from the
 * latest model version. */
async function showAutoAcceptInUse() {
  const inUse = document.getElementById("auto-accept-in-use");
  try {
    const latest = (await get(`/api/projects/${project}/learning-curve/?page=last`)).results.at(-1);
    const cascade = latest?.cascade;
    if (!cascade) {
      inUse.textContent = latest ? `Model v${latest.model_version} did not run the cascade (auto-accept was off).` : "No model has been trained yet.";
    } else if (cascade.threshold == null) {
      inUse.textContent = `In use (model v${latest.model_version}): no threshold yet. ${cascade.correct} of ${cascade.audited} answered audit items were predicted right; that does not yet show the target precision.`;
    } else {
      inUse.textContent = `In use (model v${latest.model_version}): confidence ≥ ${cascade.threshold.toFixed(3)}, where the audit measured precision ≥ ${percent(cascade.precision_lower_bound, 1)} (95% lower bound, ${cascade.audited_above} audited items above it); ${cascade.accepted} labels auto-accepted.`;
    }
  } catch (error) {
    inUse.textContent = `Could not read the threshold in use: ${error.message}`;
  }
}

showAutoAcceptInUse();

// The backbone lives on the learning side (/backbone/): a select with a line per choice.
// An installed package of models (timm, open_clip) is one choice, "timm:", whose model is
// typed by name.
const backboneForm = document.getElementById("backbone-form");
const backboneName = document.getElementById("backbone-name");
const backboneModel = document.getElementById("backbone-model");
const backboneMessage = document.getElementById("backbone-message");
const backboneUrl = `/api/projects/${project}/backbone/`;
let summaries = {};

function showChoice() {
  const byName = backboneName.value.endsWith(":");
  document.getElementById("backbone-model-label").hidden = !byName;
  backboneModel.required = byName;
  document.getElementById("backbone-summary").textContent = summaries[backboneName.value] ?? "";
}

function showBackbone(state) {
  const [prefix, model] = state.name.includes(":") ? state.name.split(/:(.*)/s) : [state.name, null];
  backboneName.value = model === null ? state.name : `${prefix}:`;
  backboneModel.value = model ?? "";
  showChoice();
  backboneForm.elements.weights.value = state.weights;
  document.getElementById("backbone-progress").textContent = `${state.embedded} of ${state.total} images embedded with ${state.name}.`;
}

backboneName.addEventListener("change", showChoice);

backboneForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const choice = backboneName.value;
  const name = choice.endsWith(":") ? `${choice}${backboneModel.value.trim()}` : choice;
  const body = { name, weights: backboneForm.elements.weights.value.trim() };
  try {
    showBackbone((await request("PUT", backboneUrl, body)).data);
    say(backboneMessage, `Backbone saved: ${body.name}. The worker computes its embeddings.`, "ok");
  } catch (error) {
    say(backboneMessage, errorText(error), "error");
  }
});

try {
  const state = await get(`${backboneUrl}?choices=1`);
  // "timm:<model>" -> "timm:"; a project on a package no longer installed keeps its choice.
  const choices = state.choices.map((choice) => ({ ...choice, name: choice.name.replace("<model>", "") }));
  const current = state.name.includes(":") ? `${state.name.split(":")[0]}:` : state.name;
  if (!choices.some((choice) => choice.name === current)) choices.push({ name: current, summary: "" });
  summaries = Object.fromEntries(choices.map((choice) => [choice.name, choice.summary]));
  const label = (choice) => (choice.name.endsWith(":") ? `${choice.name} ${choice.summary}` : `${choice.name}: ${choice.summary}`);
  backboneName.replaceChildren(...choices.map((choice) => el("option", { value: choice.name }, label(choice))));
  showBackbone(state);
} catch (error) {
  say(backboneMessage, errorText(error), "error");
}

// Training the backbone (/pretrain/: SimCLR or a fine-tune): one run at a time per
// project; its list is polled while a run is queued or running.
const pretrainForm = document.getElementById("pretrain-form");
const pretrainMessage = document.getElementById("pretrain-message");
const pretrainUrl = `/api/projects/${project}/pretrain/`;
const POLL_MS = 3000;
const ACTIVE = new Set(["queued", "running"]);
const METHODS = { simclr: "SimCLR", finetune: "Fine-tune" };
let poll = null;
let wasActive = false;

function duration(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${+(seconds / 60).toFixed(1)} min`;
  return `${+(seconds / 3600).toFixed(1)} h`;
}

function outcome(run) {
  if (run.state === "queued") return "Waiting for the worker.";
  if (run.state === "running") return `Training since ${new Date(run.started_at).toLocaleTimeString()}.`;
  if (run.state === "failed") return run.error || "Failed.";
  const { steps, loss_first: first, loss_last: last, device, elapsed_s: elapsed } = run.stats;
  return `${steps} steps on ${device} in ${duration(Math.round(elapsed))}, loss ${first} → ${last}; weights ${run.weights}.`;
}

function pretrainRow(run) {
  return el(
    "tr",
    {},
    el("td", { class: "num" }, run.id),
    el("td", {}, METHODS[run.method] ?? run.method),
    el("td", {}, run.backbone),
    el("td", {}, run.state),
    el("td", {}, duration(run.time_budget_s)),
    el("td", {}, new Date(run.created_at).toLocaleString()),
    el("td", { class: run.state === "failed" ? "error" : "" }, outcome(run)),
  );
}

async function showPretrainRuns() {
  clearTimeout(poll);
  let active = wasActive;
  try {
    const { results: runs } = await get(`${pretrainUrl}?page_size=10`);
    document.getElementById("pretrain-runs").replaceChildren(
      ...(runs.length ? runs.map(pretrainRow) : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No training yet."))]),
    );
    active = runs.some((run) => ACTIVE.has(run.state));
    // A run that succeeded switched the backbone's weights: show them, so that saving
    // the backbone form does not put the old ones back.
    if (wasActive && !active) showBackbone(await get(backboneUrl));
  } catch (error) {
    say(pretrainMessage, errorText(error), "error");
  }
  wasActive = active;
  // Disabled in the page until this runs: a click before would submit the form natively.
  pretrainForm.querySelector("button").disabled = active;
  if (active) poll = setTimeout(showPretrainRuns, POLL_MS);
}

pretrainForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const budget = Number(pretrainForm.elements.time_budget_s.value);
  const method = pretrainForm.elements.method.value;
  try {
    const { status, data: run } = await post(pretrainUrl, { time_budget_s: budget, method });
    say(
      pretrainMessage,
      status === 202
        ? `${METHODS[method]} #${run.id} queued for ${duration(budget)}.`
        : `${METHODS[run.method]} #${run.id} is already ${run.state}.`,
      "ok",
    );
    wasActive = true;
  } catch (error) {
    say(pretrainMessage, errorText(error), "error");
  }
  showPretrainRuns();
});

showPretrainRuns();

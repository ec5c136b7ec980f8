// Project list: progress, budget and the latest model's accuracy, one row per project.
import { get, getAll } from "../api.js";
import { el, percent, say } from "../dom.js";

const $ = (id) => document.getElementById(id);

function latestAccuracy(curve) {
  const latest = curve.at(-1);
  const measured = latest?.gold ?? latest?.shadow;
  if (!measured?.accuracy) return "no model yet";
  const levels = Object.entries(measured.accuracy).map(([level, value]) => `${level} ${percent(value)}`);
  return `v${latest.model_version}: ${levels.join(", ")}`;
}

async function row(summary) {
  const base = `/api/projects/${summary.id}/`;
  const [detail, budget, curve] = await Promise.all([
    get(base),
    get(`${base}budget/`),
    // Oldest first: the last page ends with the latest model.
    get(`${base}learning-curve/?page=last`).then((page) => page.results),
  ]);
  const { progress } = detail;
  const manage = detail.role === "admin" || detail.role === "lead";
  const done = progress.items ? progress.labeled / progress.items : 0;
  const pages = [["label", "Label"], ["grid", "Grid"]];
  if (manage) pages.push(["dashboard", "Dashboard"], ["review", "Review"], ["export", "Export"], ["settings", "Settings"], ["members", "Members"]);
  const budgetText =
    budget.max_human_annotations != null
      ? `${budget.used} of ${budget.max_human_annotations} (${budget.percent_spent}%)`
      : manage
        ? `${budget.used} (no limit)`
        : budget.quota.daily_quota != null
          ? `today ${budget.quota.used_today} of ${budget.quota.daily_quota}`
          : "no quota";
  return el(
    "tr",
    {},
    el("th", { scope: "row" }, el("a", { href: `/projects/${detail.id}/label/` }, detail.name)),
    el("td", {}, el("progress", { max: 1, value: done, "aria-label": `${percent(done)} labeled` }), " ", percent(done)),
    el("td", { class: "num" }, progress.human_annotations),
    el("td", { class: "num" }, progress.auto_annotations),
    el("td", { class: "num" }, progress.remaining),
    el("td", {}, budgetText),
    el("td", {}, latestAccuracy(curve)),
    el("td", { class: "links" }, pages.map(([page, title]) => el("a", { href: `/projects/${detail.id}/${page}/` }, title))),
  );
}

try {
  const projects = await getAll("/api/projects/");
  $("project-rows").replaceChildren(...(await Promise.all(projects.map(row))));
  document.querySelector("table.projects").hidden = projects.length === 0;
  say($("status"), projects.length ? "" : "You are not a member of any project yet.");
} catch (error) {
  say($("status"), `Could not load the projects: ${error.message}`, "error");
}

// Review queue for leads: flagged label issues, kept or corrected one by one, and the
// items whose annotators disagree.
import { get, post } from "../api.js";
import { el, pageData, percent, say } from "../dom.js";

const { project } = pageData();
const $ = (id) => document.getElementById(id);

async function resolve(issue, action, row) {
  const body = action === "correct" ? { action, node: issue.suggested_node } : { action };
  try {
    await post(`/api/label-issues/${issue.id}/resolve/`, body);
    const next = row.nextElementSibling ?? row.previousElementSibling;
    row.remove();
    next?.querySelector("button")?.focus();
    say($("message"), action === "keep" ? `Kept ${issue.given_node}.` : `Corrected to ${issue.suggested_node_path}.`);
  } catch (error) {
    say($("message"), error.message, "error");
  }
}

function issueRow(issue) {
  const row = el(
    "tr",
    { tabindex: "0" },
    el("td", {}, thumbnail(issue.item)),
    el("td", {}, issue.given_node),
    el("td", {}, issue.annotator ?? "–"),
    el("td", {}, issue.suggested_node_path),
    el("td", { class: "num" }, percent(issue.label_quality, 1)),
    el("td", { class: "num" }, `v${issue.model_version}`),
  );
  row.append(
    el(
      "td",
      {},
      el("button", { type: "button", onclick: () => resolve(issue, "keep", row) }, "Keep (K)"),
      " ",
      el("button", { type: "button", class: "primary", onclick: () => resolve(issue, "correct", row) }, "Correct (C)"),
    ),
  );
  row.addEventListener("keydown", (event) => {
    const key = event.key.toLowerCase();
    if (key === "k") resolve(issue, "keep", row);
    else if (key === "c") resolve(issue, "correct", row);
    else if (event.key === "ArrowDown") row.nextElementSibling?.focus();
    else if (event.key === "ArrowUp") row.previousElementSibling?.focus();
    else return;
    event.preventDefault();
  });
  return row;
}

const thumbnail = (item) =>
  el("img", { class: "thumb", src: `/api/items/${item}/image/`, alt: `Item ${item}` });

function disagreementRow(row) {
  return el(
    "tr",
    {},
    el("td", {}, thumbnail(row.item)),
    el("td", {}, el("ul", { class: "answers" }, row.answers.map((answer) => el("li", {}, `${answer.annotator}: ${answer.path}`)))),
    el("td", {}, row.label),
    el("td", { class: "num" }, percent(row.agreement)),
  );
}

try {
  const disagreements = await get(`/api/projects/${project}/disagreements/`);
  $("disagreements").replaceChildren(
    ...(disagreements.length
      ? disagreements.map(disagreementRow)
      : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No disagreements."))]),
  );
  // The worst first: a lead works down from the top.
  const { results: issues, count } = await get(`/api/projects/${project}/label-issues/?page_size=200`);
  $("issues").replaceChildren(...issues.map(issueRow));
  const shown = count > issues.length ? ` (the first ${issues.length} shown)` : "";
  say($("message"), count ? `${count} open label issues${shown}.` : "No open label issues.");
  $("issues").firstElementChild?.focus();
} catch (error) {
  say($("message"), error.message, "error");
}

// Dashboard for leads: the learning curve, embeddings, budget and forecast, labels by source,
// annotator throughput and agreement, and the latest model's confusion.
import { get, getAll } from "../api.js";
import { el, pageData, percent, say } from "../dom.js";
import { COLORS, barChart, gauge, heatMap, lineChart } from "../charts.js";

const { project } = pageData();
const $ = (id) => document.getElementById(id);
const base = `/api/projects/${project}/`;

function curveChart(curve, levels) {
  const series = [];
  for (const [sample, dashed] of [["shadow", false], ["gold", true]]) {
    levels.forEach((level, index) => {
      const points = curve
        .filter((point) => point[sample]?.accuracy?.[level] !== undefined)
        .map((point) => [point.human_labels, point[sample].accuracy[level]]);
      if (points.length) series.push({ name: `${level} (${sample})`, points, dashed, color: COLORS[index % COLORS.length] });
    });
  }
  if (!series.length) return el("p", { class: "muted" }, "No model has been measured yet.");
  return lineChart(series, { title: "Accuracy per level against human labels", width: 640, height: 230, xLabel: "human labels", yLabel: "accuracy" });
}

function budgetView(budget) {
  const total = budget.max_human_annotations;
  const forecast = budget.forecast;
  return el(
    "div",
    {},
    total == null
      ? el("p", {}, `${budget.used} human answers; no budget set.`)
      : [
          gauge({ used: budget.used, reserved: budget.open_leases, total, title: "Budget used" }),
          el("p", {}, `${budget.used} of ${total} used (${budget.percent_spent}%), ${budget.open_leases} leased, ${budget.remaining} left.`),
          budget.notice !== "none" ? el("p", { class: "warning" }, `Notice: ${budget.notice}% of the budget spent.`) : null,
        ],
    el(
      "p",
      {},
      forecast?.accuracy != null
        ? `Forecast at ${forecast.at_labels} labels: ${percent(forecast.accuracy, 1)} fine accuracy (${forecast.method}, ${forecast.points} points).`
        : "No forecast yet (it needs a budget and a learning curve).",
    ),
  );
}

/** Per-class accuracy and the confusion matrix of the latest model: on the gold set when
 * there is one, else on the shadow sample. */
function confusionView(latest) {
  const [sample, measured] = [["gold", latest?.gold], ["shadow", latest?.shadow]].find(([, m]) => m?.confusion) ?? [];
  if (!measured) {
    $("confusion-note").textContent = "No model has been measured yet.";
    return "";
  }
  const { leaves, confusion } = measured;
  $("confusion-note").textContent = `Model v${latest.model_version} on the ${sample} ${sample === "gold" ? "set" : "sample"} (${measured.n} items): rows are the true class, columns the prediction.`;
  const accuracy = leaves.map((leaf, i) => {
    const total = confusion[i].reduce((a, b) => a + b, 0);
    return { name: leaf.split("/").at(-1), value: total ? confusion[i][i] / total : 0, total, color: COLORS[0] };
  });
  return el(
    "div",
    { class: "side-by-side" },
    heatMap(leaves, confusion, { title: "Confusion matrix" }),
    barChart(accuracy.filter((row) => row.total), { title: "Accuracy per class", width: 300, format: (value) => percent(value) }),
  );
}

/** How far the embeddings are under the project's backbone, and which backbone and
 * weights each run of model versions used. */
function embeddingsView(backbone, curve) {
  const runs = [];
  for (const point of curve) {
    const used =
      point.source === "trained"
        ? `${point.backbone || "?"} (${point.backbone_weights || "weights not recorded"})`
        : { zero_shot: `zero-shot from the class names on ${point.backbone}`, external: "imported from an outside model" }[point.source];
    if (runs.at(-1)?.used === used) runs.at(-1).last = point.model_version;
    else runs.push({ used, first: point.model_version, last: point.model_version });
  }
  return el(
    "div",
    {},
    el("p", {}, `${backbone.name}${backbone.weights ? ` (${backbone.weights})` : ""}: ${backbone.embedded} of ${backbone.total} images embedded.`),
    ...runs.map((run) => el("p", { class: "hint" }, `Model v${run.first}${run.last !== run.first ? `–v${run.last}` : ""}: ${run.used}`)),
  );
}

try {
  const [taxonomy, curve, budget, stats, backbone] = await Promise.all([
    get(`${base}taxonomy/`),
    getAll(`${base}learning-curve/?page_size=500`),
    get(`${base}budget/`),
    get(`${base}stats/`),
    get(`${base}backbone/`),
  ]);
  $("embeddings").replaceChildren(embeddingsView(backbone, curve));
  $("curve").replaceChildren(curveChart(curve, taxonomy.levels));
  $("budget").replaceChildren(budgetView(budget));
  $("sources").replaceChildren(
    barChart(Object.entries(stats.labels_by_source).map(([name, value]) => ({ name, value })), { title: "Labels by source" }),
  );
  const annotators = stats.annotators;
  $("throughput").replaceChildren(
    annotators.some((row) => row.items_per_hour)
      ? barChart(annotators.filter((row) => row.items_per_hour).map((row) => ({ name: row.username, value: row.items_per_hour })), { title: "Items per hour of labeling time", format: (value) => `${value}/h` })
      : "",
  );
  $("annotators").replaceChildren(
    ...annotators.map((row) =>
      el(
        "tr",
        {},
        el("td", {}, row.username),
        el("td", { class: "num" }, row.answers),
        el("td", { class: "num" }, row.hours.toFixed(2)),
        el("td", { class: "num" }, row.items_per_hour ?? "–"),
        el("td", { class: "num" }, row.agreement == null ? "–" : `${percent(row.agreement)} of ${row.compared}`),
      ),
    ),
  );
  $("confusion").replaceChildren(confusionView(curve.at(-1)));
} catch (error) {
  say($("message"), `Could not load the dashboard: ${error.message}`, "error");
}

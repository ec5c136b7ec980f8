// Export: start one, follow its progress, download the file.
import { get, post } from "../api.js";
import { el, pageData, say } from "../dom.js";

const POLL_MS = 500;
const { project } = pageData();
const $ = (id) => document.getElementById(id);

function describe(job) {
  const total = job.total || 0;
  return total ? `${job.processed} of ${total} items` : job.state;
}

function renderJob(job) {
  const done = job.state === "succeeded" ? 1 : job.total ? job.processed / job.total : 0;
  $("progress").value = done;
  $("progress-text").textContent = `${job.format.toUpperCase()} export #${job.id}: ${job.state}, ${describe(job)}`;
  $("download").replaceChildren(
    job.download_url
      ? el("a", { href: job.download_url, class: "button primary", download: "" }, `Download ${job.format} (${job.size} bytes, ${job.exported} items)`)
      : job.state === "failed"
        ? el("span", { class: "error" }, job.error || "The export failed.")
        : "",
  );
}

async function follow(job) {
  renderJob(job);
  while (job.state === "queued" || job.state === "running") {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await get(`/api/exports/${job.id}/`);
    renderJob(job);
  }
  listExports();
}

async function listExports() {
  const { results: jobs } = await get(`/api/projects/${project}/exports/?page_size=20`);
  $("exports").replaceChildren(
    ...jobs.map((job) =>
      el(
        "tr",
        {},
        el("td", { class: "num" }, job.id),
        el("td", {}, job.format),
        el("td", {}, job.state),
        el("td", { class: "num" }, job.exported),
        el("td", {}, job.created_by ?? ""),
        el("td", {}, new Date(job.created_at).toLocaleString()),
        el("td", {}, job.download_url ? el("a", { href: job.download_url }, "download") : ""),
      ),
    ),
  );
}

$("export-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const format = form.get("format");
  const options = { human_only: form.has("human_only"), include_auto: form.has("include_auto") };
  if (form.get("min_agreement")) options.min_agreement = Number(form.get("min_agreement"));
  if (format === "imagefolder") options.layout = form.get("layout");
  try {
    const { data } = await post(`/api/projects/${project}/exports/`, { format, options });
    say($("message"), "");
    follow(data);
  } catch (error) {
    say($("message"), error.message, "error");
  }
});

listExports();

// Import: a zip, a folder or images go up resumably (tus), then the import job's
// progress, its report, and the history. Predictions of an outside model go up in one request.
import { ApiError, cookie, get } from "../api.js";
import { el, pageData, say } from "../dom.js";
import { downloadZip } from "../../vendor/client-zip/index.js";

const POLL_MS = 500;
const CHUNK_BYTES = 8 * 1024 * 1024;
const { project } = pageData();
const $ = (id) => document.getElementById(id);
const { tus } = window;

/** Every file under a dropped folder, with its path (folder names can be labels). */
async function entryFiles(entry, prefix = "") {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    return [{ path: prefix + file.name, file }];
  }
  const reader = entry.createReader();
  const found = [];
  for (let batch; (batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject))).length; ) {
    for (const child of batch) found.push(...(await entryFiles(child, `${prefix}${entry.name}/`)));
  }
  return found;
}

/** One zip to upload: the zip itself, or the files zipped here (stored, not compressed). */
async function asZip(picked) {
  if (picked.length === 1 && /\.zip$/i.test(picked[0].path)) return { blob: picked[0].file, name: picked[0].path };
  say($("upload-text"), `Zipping ${picked.length} files…`);
  const blob = await downloadZip(picked.map(({ path, file }) => ({ name: path, input: file, lastModified: file.lastModified }))).blob();
  const folder = picked[0].path.includes("/") ? picked[0].path.split("/")[0] : "files";
  return { blob, name: `${folder}.zip` };
}

function options() {
  const form = new FormData($("import-options"));
  return form.has("with_labels") ? { labels: form.get("labels_as") } : {};
}

function tusError(error) {
  const body = error.originalResponse?.getBody?.();
  try {
    return JSON.parse(body).detail || error.message;
  } catch {
    return error.message;
  }
}

async function upload(picked) {
  if (!picked.length) return;
  say($("message"), "");
  $("report").hidden = true;
  const { blob, name } = await asZip(picked);
  const job = await new Promise((resolve, reject) => {
    const transfer = new tus.Upload(blob, {
      endpoint: `/api/projects/${project}/uploads/`,
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      metadata: { filename: name, ...options() },
      headers: { "X-CSRFToken": cookie("csrftoken") },
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        $("upload-progress").value = total ? sent / total : 0;
        say($("upload-text"), `Uploading ${name}: ${sent.toLocaleString()} of ${total.toLocaleString()} bytes`);
      },
      onSuccess({ lastResponse }) {
        resolve(lastResponse.getHeader("Arbor-Import-Job"));
      },
      onError: (error) => reject(new Error(tusError(error))),
    });
    // A page reloaded mid-upload picks up where the server stands.
    transfer.findPreviousUploads().then((previous) => {
      if (previous.length) transfer.resumeFromPreviousUpload(previous[0]);
      transfer.start();
    });
  });
  $("upload-progress").value = 1;
  say($("upload-text"), `Uploaded ${name}.`, "ok");
  await follow(job);
}

function renderJob(job) {
  const done = job.state === "succeeded" ? 1 : job.total ? job.processed / job.total : 0;
  $("job-progress").value = done;
  const counted = job.total ? `, ${job.processed} of ${job.total} files` : "";
  say($("job-text"), `Import #${job.id} (${job.name}): ${job.state}${counted}`, job.state === "failed" ? "error" : "");
}

function renderReport(job) {
  $("report").hidden = false;
  $("report-summary").textContent =
    `${job.imported} imported, ${job.duplicates} duplicates skipped, ${job.skipped} refused.` + (job.error ? ` ${job.error}` : "");
  $("report-csv").href = `/api/imports/${job.id}/report/`;
  $("refused").replaceChildren(
    ...job.errors.map((error) => el("tr", {}, el("td", {}, error.file), el("td", {}, error.error))),
    ...job.unmatched_folders.map((folder) =>
      el("tr", {}, el("td", {}, `${folder.folder}/`), el("td", {}, `No leaf of that name: ${folder.files} files imported without a label`)),
    ),
  );
}

async function follow(jobId) {
  let job = await get(`/api/imports/${jobId}/`);
  renderJob(job);
  while (job.state === "queued" || job.state === "running") {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await get(`/api/imports/${jobId}/`);
    renderJob(job);
  }
  renderReport(job);
  listImports();
}

async function listImports() {
  const { results: jobs } = await get(`/api/projects/${project}/imports/?page_size=20`);
  $("history").replaceChildren(
    ...jobs.map((job) =>
      el(
        "tr",
        {},
        el("td", { class: "num" }, job.id),
        el("td", {}, job.name),
        el("td", {}, job.kind),
        el("td", {}, job.state),
        el("td", { class: "num" }, job.imported),
        el("td", { class: "num" }, job.duplicates),
        el("td", { class: "num" }, job.skipped),
        el("td", {}, job.created_by ?? ""),
        el("td", {}, new Date(job.created_at).toLocaleString()),
        el("td", {}, el("a", { href: `/api/imports/${job.id}/report/`, download: "" }, "report")),
      ),
    ),
  );
}

function start(picked) {
  upload(picked).catch((error) => say($("message"), error.message, "error"));
}

const fromInput = (input) => [...input.files].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
$("pick-files").addEventListener("change", (event) => start(fromInput(event.target)));
$("pick-folder").addEventListener("change", (event) => start(fromInput(event.target)));

const zone = $("dropzone");
zone.addEventListener("dragover", (event) => {
  event.preventDefault();
  zone.classList.add("over");
});
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", async (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  const picked = entries.length
    ? (await Promise.all(entries.map((entry) => entryFiles(entry)))).flat()
    : [...event.dataTransfer.files].map((file) => ({ path: file.name, file }));
  start(picked);
});

$("predictions-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch(`/api/projects/${project}/predictions/`, {
    method: "POST",
    body: new FormData(event.target),
    headers: { Accept: "application/json", "X-CSRFToken": cookie("csrftoken") },
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    say($("predictions-message"), new ApiError(response.status, data).message, "error");
    return;
  }
  const refused = data.errors.length ? ` Refused rows: ${data.errors.map((error) => error.error).join("; ")}` : "";
  say($("predictions-message"), `${data.imported} of ${data.total} predictions imported.${refused}`, data.imported ? "ok" : "error");
  listImports();
});

listImports();

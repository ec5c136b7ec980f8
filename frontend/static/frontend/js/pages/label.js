// The labeling screen: one image at a time, the next ones leased and decoded ahead, every
// answer sent through the retry queue with its own idempotency key.
import { get, newKey, post, request } from "../api.js";
import { askToLogIn, el, pageData, percent, say } from "../dom.js";
import { guideEntry, guideLoad } from "../guide.js";
import { SHORTCUTS, Tree, choices, initialPath, keyAction } from "../keymap.js";
import { RetryQueue, needsLogin } from "../retry-queue.js";
import { ZoomPan } from "../zoom.js";

// Items leased ahead of the one on screen. Each queue/next call leases one more, so a few
// are enough to hide the round trip without holding many items away from colleagues.
const PREFETCH = 3;
// A lease this close to its end would be refused by the time it is answered.
const LEASE_MARGIN_MS = 5000;
// How often to ask again once the queue had nothing left.
const RECHECK_MS = 30000;
const MODE_NAMES = { full: "label", fine: "fine only", verify: "verify" };
// The person's answers today and the project's items left: asked again this often.
const PROGRESS_EVERY_ANSWERS = 10;
const PROGRESS_EVERY_MS = 60000;

const { project, user } = pageData();
const $ = (id) => document.getElementById(id);
// Milliseconds from an answer key to the frame showing the next image (the benchmark).
window.arbor = { latencies: [] };

let tree = null;
let current = null; // {item, prediction, lease, mode, image, ready, shownAt}
let path = []; // node ids picked (or settled) so far for the current item
const buffer = [];
let exhausted = false;
let filling = null;
let busy = false;
let keyDownAt = null;
let savedCount = 0;
let guide = null; // node id -> the guide's entry, once loaded
let progress = null; // {today, left, savedAt}: the server's figures and savedCount then
const history = []; // recent answers, newest last: {task, key}
const annotationIds = new Map(); // idempotency key -> stored annotation id

const queue = new RetryQueue({
  send: (entry) =>
    request("POST", entry.url, entry.body, { signal: AbortSignal.timeout(10000) }),
  storage: localStorage,
  storageKey: `arbor.unsaved.${user}.${project}`,
  onChange: renderStatus,
  onSaved(entry, response) {
    annotationIds.set(entry.key, response.data.id);
    // A 200 is a replay of an earlier attempt whose response was lost: still one answer.
    savedCount += 1;
    if (savedCount - (progress?.savedAt ?? 0) >= PROGRESS_EVERY_ANSWERS) progressLoad();
  },
  onFailed(entry, error) {
    say($("message"), `An answer was refused: ${error.message}`, "error");
  },
  onLoginNeeded: () => askToLogIn($("message")),
});

function preload(task) {
  const image = new Image();
  image.className = "item-image";
  image.alt = `Item ${task.item.id}`;
  image.src = task.item.image_url;
  // A broken image is still shown, with its alt text, rather than blocking the screen.
  task.ready = image.decode().catch(() => {});
  task.image = image;
  return task;
}

function fill() {
  filling ??= (async () => {
    try {
      while (!exhausted && buffer.length < PREFETCH) {
        // The missing ones at once: a fast annotator can drain the buffer in a second.
        const wanted = Array.from({ length: PREFETCH - buffer.length }, () =>
          post(`/api/projects/${project}/queue/next/`),
        );
        const settled = await Promise.allSettled(wanted);
        const responses = settled.filter((r) => r.status === "fulfilled").map((r) => r.value);
        // The server takes requests again (logged in anew elsewhere): send what waited.
        if (responses.length && queue.loginNeeded) queue.retryNow();
        exhausted = responses.some((response) => response.status === 204);
        // Concurrent calls may come back in any order: keep the queue's, best first.
        const leased = responses.filter((response) => response.status === 200).map((r) => r.data);
        leased.sort((a, b) => b.item.priority - a.item.priority);
        buffer.push(...leased.map(preload));
        if (!current && buffer.length) advance();
        // Keep what was leased; a failed call is tried again below.
        const failed = settled.find((r) => r.status === "rejected");
        if (failed) throw failed.reason;
      }
    } catch (error) {
      if (needsLogin(error)) askToLogIn($("message"));
      else say($("message"), `Could not fetch the next image (${error.message}); retrying.`, "error");
      setTimeout(fill, 2000);
    } finally {
      filling = null;
    }
    if (!current) show();
    if (exhausted && !current) {
      // Items come back (expired leases, rejected grid items, a raised budget): look again.
      setTimeout(() => {
        exhausted = false;
        fill();
      }, RECHECK_MS);
    }
  })();
  return filling;
}

function advance() {
  while (buffer.length && Date.parse(buffer[0].lease.expires_at) - Date.now() < LEASE_MARGIN_MS) {
    buffer.shift();
  }
  current = buffer.shift() ?? null;
  show();
  fill();
}

async function show() {
  const task = current;
  if (!task) {
    path = [];
    const text = exhausted ? "Nothing left to label for you right now." : "Loading…";
    $("image-box").replaceChildren(el("p", { class: "image-empty" }, text));
    zoom.attach(null);
    renderPanel();
    return;
  }
  path = initialPath(task);
  $("image-box").replaceChildren(task.image);
  zoom.attach(task.image);
  task.shownAt = performance.now(); // time spent on the item counts from here
  renderPanel();
  await task.ready;
  requestAnimationFrame(() => {
    if (current !== task || keyDownAt === null) return;
    window.arbor.latencies.push(performance.now() - keyDownAt);
    keyDownAt = null;
  });
}

function nodeName(id) {
  return tree.node(id)?.name ?? String(id);
}

// Predictions that are not the loop's own say where they come from.
const ORIGIN_NOTES = {
  zero_shot: "Zero-shot guess from the class names, before any label: check it.",
  external: "Predicted by an outside model.",
};

function renderPanel() {
  const task = current;
  const prediction = task?.prediction;
  const settled = task?.mode === "fine" ? (prediction?.settled_depth ?? 0) : 0;
  $("mode").textContent = task ? MODE_NAMES[task.mode] : "";
  $("mode").dataset.mode = task?.mode ?? "";
  $("prediction").replaceChildren(
    ...(prediction
      ? prediction.levels.map((level, depth) =>
          el(
            "li",
            { class: depth < settled ? "settled" : "" },
            el("span", { class: "level-name" }, nodeName(level.node)),
            el("span", { class: "bar", style: `--p:${level.p}` }),
            el("span", { class: "num" }, percent(level.p)),
            depth < settled ? el("span", { class: "badge" }, "settled") : null,
          ),
        )
      : [el("li", { class: "muted" }, task ? "No model yet: choose below." : "")]),
    ...(ORIGIN_NOTES[prediction?.origin] ? [el("li", { class: "hint" }, ORIGIN_NOTES[prediction.origin])] : []),
  );
  const predictedNodes = new Set(prediction?.levels.map((level) => level.node) ?? []);
  const picked = path.map((id, depth) =>
    el("span", { class: depth < settled ? "crumb settled" : "crumb" }, nodeName(id)),
  );
  $("picked").replaceChildren(...(picked.length ? picked : [el("span", { class: "muted" }, "top level")]));
  $("choices").replaceChildren(
    ...(task
      ? choices(tree, path).map(({ key, node }) =>
          el(
            "li",
            {},
            el(
              "button",
              {
                type: "button",
                class: predictedNodes.has(node.id) ? "predicted" : "",
                title: predictedNodes.has(node.id) ? "the model's guess" : false,
                onclick: () => act(key),
              },
              el("kbd", {}, key),
              " ",
              node.name,
              node.is_leaf ? "" : " ›",
              guide?.get(node.id)?.definition
                ? el("small", { class: "choice-definition" }, guide.get(node.id).definition)
                : null,
            ),
          ),
        )
      : []),
  );
  if (!$("guide-drawer").hidden) renderGuide();
}

/** The guide's entries for the classes offered now (or the class picked, at a leaf). */
function renderGuide() {
  if (!guide) {
    $("guide-entries").replaceChildren(el("p", { class: "muted" }, "Loading the guide…"));
    return;
  }
  const offered = choices(tree, path).map(({ node }) => node.id);
  const shown = (offered.length ? offered : path.slice(-1)).map((id) => guide.get(id)).filter(Boolean);
  $("guide-entries").replaceChildren(...shown.map((entry) => guideEntry(entry)));
}

function toggleGuide() {
  $("guide-drawer").hidden = !$("guide-drawer").hidden;
  if (!$("guide-drawer").hidden) renderGuide();
}

/** Answers today (the daily quota's count) and items left in the project, off the hot path. */
async function progressLoad() {
  const savedAt = savedCount;
  try {
    const [budget, detail] = await Promise.all([
      get(`/api/projects/${project}/budget/`),
      get(`/api/projects/${project}/`),
    ]);
    progress = { today: budget.quota.used_today, left: detail.progress.remaining, savedAt };
  } catch {
    return; // figures only: the next answer or minute asks again
  }
  renderStatus();
}

function renderStatus() {
  $("saved").textContent = `${savedCount} saved`;
  if (progress) {
    $("today").textContent = `${progress.today + savedCount - progress.savedAt} answered today`;
    $("left").textContent = `${progress.left} left in the project`;
  }
  const unsaved = $("unsaved");
  unsaved.dataset.count = queue.size;
  const state = queue.loginNeeded
    ? "waiting for you to log in"
    : queue.retrying
      ? "connection lost, retrying"
      : "sending";
  unsaved.textContent = queue.size ? `${queue.size} unsaved – ${state}` : "All answers saved";
}

function answer(node) {
  const task = current;
  const key = newKey();
  const duration = Math.round(performance.now() - task.shownAt);
  queue.add({
    key,
    url: `/api/items/${task.item.id}/annotations/`,
    body: { node, lease: task.lease.id, idempotency_key: key, duration_ms: duration },
  });
  history.push({ task, key });
  if (history.length > 20) history.shift();
  say($("message"), `Answered ${tree.node(node)?.path ?? node}.`);
  advance();
}

function skip() {
  // A release that fails is harmless: the lease runs out and the item comes back.
  post(`/api/leases/${current.lease.id}/release/`).catch(() => {});
  say($("message"), "Skipped.");
  advance();
}

async function undo() {
  const last = history.pop();
  if (!last) {
    say($("message"), "Nothing to undo.");
    return;
  }
  let taken = queue.remove(last.key);
  if (!taken) {
    // On its way or stored: wait for the server. Refused for want of a login, it is still
    // queued, and taken back here after all.
    const outcome = await queue.settled(last.key);
    taken = needsLogin(outcome.error) && queue.remove(last.key);
  }
  if (!taken) {
    // Stored: take it back on the server.
    const id = annotationIds.get(last.key);
    if (!id) {
      say($("message"), "That answer was not stored; nothing to undo.");
      return;
    }
    try {
      const response = await post(`/api/annotations/${id}/undo/`);
      last.task.lease = response.data.lease;
      savedCount -= 1;
      renderStatus();
    } catch (error) {
      if (needsLogin(error)) askToLogIn($("message"));
      else say($("message"), `Could not undo: ${error.message}`, "error");
      return;
    }
  }
  if (current) buffer.unshift(current);
  current = last.task;
  say($("message"), "Undone: answer this image again.");
  show();
}

async function act(key, timeStamp = performance.now()) {
  if (busy || !tree) return false;
  const action = keyAction(key, { tree, path, prediction: current?.prediction });
  if (!action || (!current && !["undo", "guide"].includes(action.type))) return false;
  if (action.type === "submit" || action.type === "skip") keyDownAt = timeStamp;
  if (action.type === "submit") answer(action.node);
  else if (action.type === "skip") skip();
  else if (action.type === "guide") toggleGuide();
  else if (action.type === "zoom") zoom.toggle();
  else if (action.type === "path") {
    path = action.path;
    renderPanel();
  } else if (action.type === "undo") {
    busy = true;
    await undo().finally(() => {
      busy = false;
    });
  }
  return true;
}

document.addEventListener("keydown", (event) => {
  if (!tree || event.ctrlKey || event.metaKey || event.altKey) return;
  // Buttons get Enter too: the key's meaning on this screen wins over clicking them.
  const handled = keyAction(event.key, { tree, path, prediction: current?.prediction });
  if (!handled) return;
  event.preventDefault();
  act(event.key, event.timeStamp);
});

window.addEventListener("online", () => queue.retryNow());
// Back from logging in again in another tab.
window.addEventListener("focus", () => queue.loginNeeded && queue.retryNow());
window.addEventListener("beforeunload", (event) => {
  // Answers waiting for a login are sent when the page is back (after the login page).
  if (queue.size && !queue.loginNeeded) event.preventDefault();
});
window.addEventListener("pagehide", () => {
  // Hand back the items leased ahead, so colleagues need not wait for the leases to end.
  for (const task of [current, ...buffer].filter(Boolean)) {
    request("POST", `/api/leases/${task.lease.id}/release/`, undefined, { keepalive: true }).catch(
      () => {},
    );
  }
});

$("shortcuts").replaceChildren(
  ...SHORTCUTS.flatMap(([key, text]) => [el("dt", {}, el("kbd", {}, key)), el("dd", {}, text)]),
);

const zoom = new ZoomPan($("image-box"), (level) => {
  $("zoom").textContent = level;
});
const taxonomy = await request("GET", `/api/projects/${project}/taxonomy/`).then((r) => r.data);
tree = new Tree(taxonomy.nodes);
renderStatus();
queue.flush(); // answers left over from an earlier visit
fill();
// After the first image is on its way: neither may delay it.
guideLoad(project)
  .then((loaded) => {
    guide = loaded;
    renderPanel();
  })
  .catch(() => {
    guide = new Map(); // labeling goes on without it
  });
progressLoad();
setInterval(progressLoad, PROGRESS_EVERY_MS);

// Grid verification: a page of items the model predicts as one class. Keys (or clicks)
// mark the wrong ones, Enter accepts the rest; the wrong ones go back to the queue.
import { newKey, post, request } from "../api.js";
import { askToLogIn, el, pageData, percent, say } from "../dom.js";
import { GRID_KEYS, gridTileForKey } from "../keymap.js";
import { RetryQueue, needsLogin } from "../retry-queue.js";

const GRID_SIZE = 24;
const { project, user } = pageData();
const $ = (id) => document.getElementById(id);

let page = null; // {node, items}
const wrong = new Set(); // lease ids marked wrong

// The grid answer is idempotent on the server (settled leases are skipped), so resending
// the same body after a dropped request is safe.
const queue = new RetryQueue({
  send: (entry) => request("POST", entry.url, entry.body, { signal: AbortSignal.timeout(10000) }),
  storage: localStorage,
  storageKey: `arbor.unsaved-grid.${user}.${project}`,
  onChange: renderStatus,
  onSaved(entry, response) {
    const { accepted, rejected } = response.data;
    say($("message"), `Saved: ${accepted} accepted, ${rejected} sent back to be labeled.`);
  },
  onFailed(entry, error) {
    say($("message"), `A page was refused: ${error.message}`, "error");
  },
  onLoginNeeded: () => askToLogIn($("message")),
});

function renderStatus() {
  const unsaved = $("unsaved");
  const state = queue.loginNeeded
    ? " – waiting for you to log in"
    : queue.retrying
      ? " – connection lost, retrying"
      : "";
  unsaved.dataset.count = queue.size;
  unsaved.textContent = queue.size ? `${queue.size} page(s) unsaved${state}` : "All answers saved";
  $("marked").textContent = `${wrong.size} marked wrong`;
}

function toggle(index) {
  const entry = page?.items[index];
  if (!entry) return;
  const lease = entry.lease.id;
  if (wrong.has(lease)) wrong.delete(lease);
  else wrong.add(lease);
  const tile = $("tiles").children[index];
  tile.classList.toggle("wrong", wrong.has(lease));
  tile.querySelector("button").setAttribute("aria-pressed", String(wrong.has(lease)));
  renderStatus();
}

function render() {
  $("grid-node").textContent = page ? page.node.path : "nothing to verify";
  $("accept").disabled = !page;
  $("tiles").replaceChildren(
    ...(page?.items ?? []).map((entry, index) =>
      el(
        "li",
        { class: "tile" },
        el(
          "button",
          { type: "button", "aria-pressed": "false", onclick: () => toggle(index) },
          el("img", { src: entry.item.image_url, alt: `Item ${entry.item.id}` }),
          el("kbd", {}, GRID_KEYS[index].toUpperCase()),
          el("span", { class: "num" }, percent(entry.prediction?.confidence)),
        ),
      ),
    ),
  );
  renderStatus();
}

async function load() {
  wrong.clear();
  try {
    const response = await post(`/api/projects/${project}/queue/grid/`, { size: GRID_SIZE });
    // The server takes requests again (logged in anew elsewhere): send what waited.
    if (queue.loginNeeded) queue.retryNow();
    page = response.status === 204 ? null : response.data;
    if (!page) say($("message"), "Nothing to verify in a grid right now; the label page has the rest.");
  } catch (error) {
    page = null;
    if (needsLogin(error)) askToLogIn($("message"));
    else say($("message"), `Could not load a page (${error.message}).`, "error");
  }
  render();
}

function acceptRest() {
  if (!page) return;
  const reject = [...wrong];
  const accept = page.items.map((entry) => entry.lease.id).filter((lease) => !wrong.has(lease));
  queue.add({ key: newKey(), url: `/api/projects/${project}/queue/grid/answer/`, body: { accept, reject } });
  load();
}

$("accept").addEventListener("click", acceptRest);
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Enter") {
    event.preventDefault();
    acceptRest();
    return;
  }
  const index = gridTileForKey(event.key, page?.items.length ?? 0);
  if (index !== null) {
    event.preventDefault();
    toggle(index);
  }
});
window.addEventListener("online", () => queue.retryNow());
// Back from logging in again in another tab.
window.addEventListener("focus", () => queue.loginNeeded && queue.retryNow());

queue.flush();
load();

import assert from "node:assert/strict";
import { test } from "node:test";

import { RetryQueue, needsLogin, retryable } from "../../static/frontend/js/retry-queue.js";

class MemoryStorage {
  constructor(initial = {}) {
    this.data = { ...initial };
  }
  getItem(key) {
    return this.data[key] ?? null;
  }
  setItem(key, value) {
    this.data[key] = value;
  }
}

/** A queue whose timers run only when the test says so. */
function harness({ responses, storage = new MemoryStorage() }) {
  const sent = [];
  const timers = [];
  const saved = [];
  const failed = [];
  const loginAsked = [];
  const queue = new RetryQueue({
    storage,
    storageKey: "pending",
    send: async (entry) => {
      sent.push(entry.key);
      const next = responses.shift();
      if (next instanceof Error || next?.status >= 400) throw next;
      return next;
    },
    schedule: (fn, ms) => {
      timers.push({ fn, ms });
      return timers.length;
    },
    onSaved: (entry, result) => saved.push([entry.key, result]),
    onFailed: (entry, error) => failed.push([entry.key, error.status]),
    onLoginNeeded: (error) => loginAsked.push(error.status),
  });
  const tick = async () => {
    await new Promise((resolve) => setImmediate(resolve));
  };
  const fire = async () => {
    timers.shift().fn();
    await tick();
  };
  return { queue, sent, timers, saved, failed, loginAsked, storage, tick, fire };
}

const entry = (key) => ({ key, url: `/api/items/1/annotations/`, body: { idempotency_key: key } });
const networkDown = () => new TypeError("Failed to fetch");

test("sends at once and forgets what the server stored", async () => {
  const h = harness({ responses: [{ status: 201, data: { id: 9 } }] });
  h.queue.add(entry("a"));
  await h.tick();
  assert.deepEqual(h.sent, ["a"]);
  assert.equal(h.queue.size, 0);
  assert.deepEqual(h.saved, [["a", { status: 201, data: { id: 9 } }]]);
  assert.equal(h.storage.getItem("pending"), "[]");
});

test("a network failure is retried with the same entry after a back-off", async () => {
  const h = harness({ responses: [networkDown(), { status: 503 }, { status: 200, data: { id: 9 } }] });
  h.queue.add(entry("a"));
  await h.tick();
  assert.equal(h.queue.size, 1);
  assert.ok(h.queue.retrying);
  assert.equal(h.timers[0].ms, 300);
  await h.fire();
  assert.equal(h.timers[0].ms, 1000, "the back-off grows");
  await h.fire();
  assert.deepEqual(h.sent, ["a", "a", "a"]);
  assert.equal(h.queue.size, 0);
  assert.equal(h.queue.retrying, false);
});

test("answers keep their order and a later one waits for the first", async () => {
  const h = harness({ responses: [networkDown(), { status: 201 }, { status: 201 }] });
  h.queue.add(entry("a"));
  h.queue.add(entry("b"));
  await h.tick();
  assert.deepEqual(h.sent, ["a"]);
  assert.equal(h.queue.size, 2);
  await h.fire();
  assert.deepEqual(h.sent, ["a", "a", "b"]);
  assert.equal(h.queue.size, 0);
});

test("a refusal (409, 400) is dropped and reported, and the rest go on", async () => {
  const h = harness({ responses: [{ status: 409 }, { status: 201 }] });
  h.queue.add(entry("a"));
  h.queue.add(entry("b"));
  await h.tick();
  assert.deepEqual(h.failed, [["a", 409]]);
  assert.deepEqual(h.sent, ["a", "b"]);
  assert.equal(h.queue.size, 0);
});

for (const status of [401, 403]) {
  test(`a ${status} (logged out) keeps the answers until a login, then sends them`, async () => {
    const h = harness({ responses: [{ status }, { status }, { status: 201 }, { status: 201 }] });
    h.queue.add(entry("a"));
    h.queue.add(entry("b"));
    await h.tick();
    assert.deepEqual(h.sent, ["a"], "the rest wait behind it: they would be refused alike");
    assert.equal(h.queue.size, 2);
    assert.ok(h.queue.loginNeeded);
    assert.deepEqual(h.loginAsked, [status]);
    assert.deepEqual(h.failed, [], "nothing is dropped");
    assert.equal(h.timers.length, 0, "no retries while logged out");
    assert.equal(JSON.parse(h.storage.getItem("pending")).length, 2, "kept across a reload");

    h.queue.retryNow(); // a request of the page got through, but not yet this one
    await h.tick();
    assert.deepEqual(h.loginAsked, [status, status]);
    h.queue.retryNow(); // logged in again
    await h.tick();
    assert.deepEqual(h.sent, ["a", "a", "a", "b"]);
    assert.equal(h.queue.size, 0);
    assert.equal(h.queue.loginNeeded, false);
  });
}

test("an answer refused for want of a login can still be taken back", async () => {
  const h = harness({ responses: [{ status: 401 }] });
  h.queue.add(entry("a"));
  const settled = h.queue.settled("a");
  await h.tick();
  assert.equal((await settled).error.status, 401);
  assert.equal(h.queue.remove("a"), true);
  assert.equal(h.queue.size, 0);
});

test("a 404 is still dropped and reported", async () => {
  const h = harness({ responses: [{ status: 404 }] });
  h.queue.add(entry("a"));
  await h.tick();
  assert.deepEqual(h.failed, [["a", 404]]);
  assert.equal(h.queue.size, 0);
  assert.equal(h.queue.loginNeeded, false);
});

test("what is unsent survives a reload through storage", async () => {
  const h = harness({ responses: [networkDown()] });
  h.queue.add(entry("a"));
  await h.tick();
  const again = harness({ responses: [{ status: 200 }], storage: h.storage });
  assert.equal(again.queue.size, 1);
  again.queue.flush();
  await again.tick();
  assert.deepEqual(again.sent, ["a"]);
  assert.equal(again.queue.size, 0);
});

test("an unsent entry can be taken back, one on its way cannot", async () => {
  let release;
  const storage = new MemoryStorage();
  const queue = new RetryQueue({
    storage,
    storageKey: "pending",
    send: () => new Promise((resolve) => (release = resolve)),
  });
  queue.add(entry("a"));
  queue.add(entry("b"));
  assert.equal(queue.remove("a"), false, "a is in flight");
  assert.equal(queue.remove("b"), true);
  const settled = queue.settled("a");
  release({ status: 201, data: { id: 3 } });
  assert.deepEqual(await settled, { result: { status: 201, data: { id: 3 } } });
  assert.equal(queue.size, 0);
});

test("retryable: network errors, 429 and 5xx only", () => {
  assert.ok(retryable(new TypeError("Failed to fetch")));
  assert.ok(retryable({ status: 503 }));
  assert.ok(retryable({ status: 429 }));
  assert.equal(retryable({ status: 409 }), false);
  assert.equal(retryable({ status: 400 }), false);
  assert.equal(retryable({ status: 401 }), false);
});

test("needsLogin: 401 and 403 only", () => {
  assert.ok(needsLogin({ status: 401 }));
  assert.ok(needsLogin({ status: 403 }));
  assert.equal(needsLogin({ status: 400 }), false);
  assert.equal(needsLogin({ status: 409 }), false);
  assert.equal(needsLogin(new TypeError("Failed to fetch")), false);
});

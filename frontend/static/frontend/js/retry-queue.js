// Answers waiting to reach the server. Each entry keeps its idempotency key, so sending it
// again after a dropped request or response stores it once. Entries are kept in storage
// (localStorage in the page) until the server has them, so a reload loses nothing either.

/** Whether a failed send is worth repeating: network errors, timeouts, 5xx, 429. */
export function retryable(error) {
  const status = error?.status;
  return status === undefined || status === 429 || status >= 500;
}

/** Whether the server refused for want of a login: the session expired, or the person
 * logged out in another tab. Nothing is wrong with the answer: it waits for the login. */
export function needsLogin(error) {
  return error?.status === 401 || error?.status === 403;
}

export class RetryQueue {
  /**
   * send(entry) -> Promise of the server's answer; rejects with {status} for HTTP errors
   * or anything without a status for a network failure.
   * storage: getItem/setItem (localStorage). schedule(fn, ms): setTimeout in the page.
   * onChange(queue), onSaved(entry, result), onFailed(entry, error), onLoginNeeded(error):
   * for the page.
   */
  constructor({
    send,
    storage,
    storageKey,
    schedule = (fn, ms) => setTimeout(fn, ms),
    backoffMs = [300, 1000, 2000, 5000, 10000],
    onChange = () => {},
    onSaved = () => {},
    onFailed = () => {},
    onLoginNeeded = () => {},
  }) {
    Object.assign(this, { send, storage, storageKey, schedule, backoffMs });
    Object.assign(this, { onChange, onSaved, onFailed, onLoginNeeded });
    this.entries = JSON.parse(storage.getItem(storageKey) || "[]");
    this.inFlight = null;
    this.failures = 0;
    this.loginNeeded = false;
    this.timer = null;
    this.waiters = new Map();
  }

  get size() {
    return this.entries.length;
  }

  get retrying() {
    return this.failures > 0;
  }

  /** entry: {key, url, body}; key is the idempotency key. Sends at once when idle. */
  add(entry) {
    this.entries.push(entry);
    this.persist();
    this.flush();
  }

  /** Take an entry back before it is sent (undo). False when it is on its way or gone. */
  remove(key) {
    const index = this.entries.findIndex((entry) => entry.key === key);
    if (index < 0 || this.inFlight?.key === key) return false;
    this.entries.splice(index, 1);
    this.persist();
    this.onChange(this);
    this.settle(key, { removed: true });
    return true;
  }

  /** A promise of {result} or {error} once the entry with this key is settled, or once
   * it is refused for want of a login ({error}, and the entry stays queued). */
  settled(key) {
    if (!this.entries.some((entry) => entry.key === key)) return Promise.resolve({ gone: true });
    return new Promise((resolve) => {
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), resolve]);
    });
  }

  /** Send the oldest entry, then the next; after a retryable failure wait and try again. */
  async flush() {
    if (this.inFlight || this.timer || !this.entries.length) return;
    const entry = this.entries[0];
    this.inFlight = entry;
    this.onChange(this);
    try {
      const result = await this.send(entry);
      this.failures = 0;
      this.loginNeeded = false;
      this.drop(entry);
      this.onSaved(entry, result);
      this.settle(entry.key, { result });
    } catch (error) {
      if (needsLogin(error)) {
        // Kept, and the rest wait behind it: they would be refused alike. No timer: the
        // page calls retryNow() once a request of its own succeeds or the tab is back in
        // view, and a new answer or a page load tries again too.
        this.loginNeeded = true;
        this.inFlight = null;
        this.onChange(this);
        this.onLoginNeeded(error);
        this.settle(entry.key, { error });
        return;
      }
      if (retryable(error)) {
        this.failures += 1;
        const delay = this.backoffMs[Math.min(this.failures, this.backoffMs.length) - 1];
        this.inFlight = null;
        this.timer = this.schedule(() => {
          this.timer = null;
          this.flush();
        }, delay);
        this.onChange(this);
        return;
      }
      // Refused for good (stale lease, bad input): keeping it would block the rest.
      this.drop(entry);
      this.onFailed(entry, error);
      this.settle(entry.key, { error });
    }
    this.inFlight = null;
    this.onChange(this);
    this.flush();
  }

  /** Try now instead of waiting out the back-off (the browser is back online). */
  retryNow() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flush();
  }

  drop(entry) {
    this.entries = this.entries.filter((other) => other !== entry);
    this.persist();
  }

  settle(key, outcome) {
    for (const resolve of this.waiters.get(key) ?? []) resolve(outcome);
    this.waiters.delete(key);
  }

  persist() {
    this.storage.setItem(this.storageKey, JSON.stringify(this.entries));
  }
}

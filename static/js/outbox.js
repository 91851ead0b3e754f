/* The phone's outbox (发送队列): report drafts and queued reports kept in IndexedDB, and their sending.
   Loaded by the pages (static/js/field.js) and by the service worker (Background Sync): no DOM here.

   An item: {key (the idempotency key made on the phone), user, url, tokenUrl, title, fields, files: [{name, type,
   blob}], state: waiting | sending | sent | refused, number, caseUrl, errors, created, updated}. */
(function (global) {
  "use strict";
  const DB_NAME = "govgrid";
  const KEEP_SENT_MS = 7 * 24 * 3600 * 1000;

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains("drafts")) db.createObjectStore("drafts", { keyPath: "scope" });
        if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "key" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  // One request in its own transaction; resolves with its result once the transaction is committed.
  function call(store, mode, operation) {
    return open().then((db) => new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const request = operation(tx.objectStore(store));
      tx.oncomplete = () => { db.close(); resolve(request ? request.result : undefined); };
      tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
    }));
  }

  function newKey() {
    if (global.crypto && global.crypto.randomUUID) return global.crypto.randomUUID();
    const b = global.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function changed() {
    if (global.document) {
      global.document.dispatchEvent(new CustomEvent("outbox:changed"));
    } else if (global.clients) {
      global.clients.matchAll({ includeUncontrolled: true }).then((all) => all.forEach((c) => c.postMessage({ type: "outbox" })));
    }
  }

  const api = {
    newKey,
    getDraft: (scope) => call("drafts", "readonly", (s) => s.get(scope)),
    putDraft: (draft) => call("drafts", "readwrite", (s) => s.put(draft)),
    dropDraft: (scope) => call("drafts", "readwrite", (s) => s.delete(scope)),
    list: () => call("outbox", "readonly", (s) => s.getAll()),
    get: (key) => call("outbox", "readonly", (s) => s.get(key)),
    put: (item) => call("outbox", "readwrite", (s) => s.put(item)).then(() => { changed(); return item; }),
    remove: (key) => call("outbox", "readwrite", (s) => s.delete(key)).then(changed),
  };

  async function save(item, state, extra) {
    Object.assign(item, extra || {}, { state: state, updated: Date.now() });
    await api.put(item);
  }

  // Send one item; the server answers 201 (made), 200 (the same draft was sent before: the first case's number) or
  // 400/403 with the errors per field. No answer at all: it stays waiting.
  async function send(item, csrf) {
    await save(item, "sending");
    const body = new FormData();
    Object.entries(item.fields || {}).forEach(([name, value]) => body.append(name, value));
    body.set("idempotency_key", item.key);
    (item.files || []).forEach((f) => body.append("files", f.blob, f.name));
    let response;
    try {
      response = await fetch(item.url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrf },
      });
    } catch (e) {
      await save(item, "waiting");
      return item;
    }
    const data = await response.json().catch(() => ({}));
    if (response.ok && data.number) {
      await save(item, "sent", { number: data.number, caseUrl: data.url, replayed: !!data.replayed, files: [], errors: null });
    } else if (data.errors && (response.status === 400 || response.status === 403)) {
      await save(item, "refused", { errors: data.errors });
    } else {
      await save(item, "waiting");
    }
    return item;
  }

  let running = null;
  async function flushAll() {
    const all = await api.list();
    const now = Date.now();
    await Promise.all(all.filter((i) => i.state === "sent" && now - (i.updated || 0) > KEEP_SENT_MS).map((i) => api.remove(i.key)));
    const due = all.filter((i) => i.state === "waiting" || i.state === "sending");
    if (!due.length) return [];
    // A fresh CSRF token and the signed-in user: only that user's reports leave this phone under their session.
    let who;
    try {
      const r = await fetch(due[0].tokenUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!r.ok) return [];
      who = await r.json();
    } catch (e) {
      return [];
    }
    const sent = [];
    for (const item of due) {
      if (item.user !== who.user) continue;
      sent.push(await send(item, who.csrf));
    }
    return sent;
  }

  // Send every waiting report of the signed-in user, one flush at a time (pages and the worker may both ask).
  api.flush = function () {
    if (!running) running = flushAll().finally(() => { running = null; });
    return running;
  };

  global.GovGridOutbox = api;
})(typeof self !== "undefined" ? self : window);

/* In the field: the service worker, the report draft kept on the phone as the worker types, a submit with no
   network queued ("已保存，联网后自动上报"), the queue shown on the home page, the report page and "my cases", and the
   queue sent when the network is back (page load, the `online` event, Background Sync in the worker). */
(function () {
  "use strict";
  const config = document.getElementById("field-config");
  const Outbox = window.GovGridOutbox;
  if (!config || !Outbox || !window.indexedDB) return;
  const cfg = config.dataset;
  const label = (name) => cfg["l" + name.charAt(0).toUpperCase() + name.slice(1)] || name;

  // --- the service worker ---------------------------------------------------------------------------------
  if ("serviceWorker" in navigator && cfg.sw) {
    navigator.serviceWorker.register(cfg.sw, { scope: "/" }).catch(() => {});
    // Once a session, the worker keeps a fresh copy of the field pages (home, report, my cases) for offline use.
    navigator.serviceWorker.ready.then((r) => {
      if (!navigator.onLine || !r.active || sessionStorage.getItem("govgrid-warm") === cfg.user) return;
      sessionStorage.setItem("govgrid-warm", cfg.user);
      r.active.postMessage({ type: "warm" });
    }).catch(() => {});
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data && event.data.type === "outbox") render();
    });
    document.addEventListener("submit", (event) => {
      // Signing out forgets the pages kept for offline use: the next person on this phone does not see them.
      if (event.target.matches("[data-logout]") && navigator.serviceWorker.controller) {
        navigator.serviceWorker.controller.postMessage({ type: "forget-pages" });
      }
    });
  }
  function askForSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then((r) => (r.sync ? r.sync.register("govgrid-outbox") : null)).catch(() => {});
  }

  // --- the queue, wherever a page has room for it --------------------------------------------------------
  function text(tag, value, className) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (className) el.className = className;
    return el;
  }
  async function render() {
    const boxes = document.querySelectorAll("[data-outbox]");
    if (!boxes.length) return;
    const items = (await Outbox.list()).filter((i) => i.user === cfg.user).sort((a, b) => b.created - a.created);
    boxes.forEach((box) => {
      const list = box.querySelector("[data-outbox-list]");
      list.replaceChildren();
      box.hidden = !items.length;
      items.forEach((item) => {
        const li = document.createElement("li");
        li.className = "list-group-item d-flex flex-wrap gap-2 align-items-center";
        li.dataset.testid = "outbox-item";
        li.dataset.state = item.state;
        li.append(text("span", item.title || "—", "fw-semibold text-break"));
        const badge = { waiting: "text-bg-warning", sending: "text-bg-info", sent: "text-bg-success", refused: "text-bg-danger" };
        li.append(text("span", label(item.state), "badge " + (badge[item.state] || "text-bg-secondary")));
        if (item.state === "sent" && item.caseUrl) {
          const a = text("a", item.number, "code");
          a.href = item.caseUrl;
          a.dataset.testid = "outbox-case";
          li.append(a);
        }
        if (item.state === "refused") {
          const why = Object.values(item.errors || {}).flat().join(" ");
          li.append(text("span", why, "small text-danger w-100"));
          const edit = text("button", label("edit"), "btn btn-sm btn-outline-primary");
          edit.type = "button";
          edit.dataset.outboxEdit = item.key;
          li.append(edit);
        }
        if (item.state === "sent" || item.state === "refused") {
          const drop = text("button", label("remove"), "btn btn-sm btn-link");
          drop.type = "button";
          drop.dataset.outboxRemove = item.key;
          li.append(drop);
        }
        list.append(li);
      });
    });
  }
  document.addEventListener("outbox:changed", render);
  document.addEventListener("click", async (event) => {
    const edit = event.target.closest("[data-outbox-edit]");
    const drop = event.target.closest("[data-outbox-remove]");
    if (drop) await Outbox.remove(drop.dataset.outboxRemove);
    if (!edit) return;
    // A refused report goes back into the form, with its key (it made no case) and its photos.
    const item = await Outbox.get(edit.dataset.outboxEdit);
    if (!item) return;
    await Outbox.putDraft({ scope: scope(), key: item.key, fields: item.fields, files: item.files || [], errors: item.errors });
    await Outbox.remove(item.key);
    window.location.href = cfg.reportUrl;
  });

  function flush() {
    if (!navigator.onLine) return Promise.resolve();
    return Outbox.flush().catch(() => {});
  }
  window.addEventListener("online", flush);

  // --- the report form: a draft kept as the worker types ------------------------------------------------
  const scope = () => "report:" + cfg.user;
  const form = document.getElementById("report-form");
  const SKIP = new Set(["csrfmiddlewaretoken", "confirm_nearby", "idempotency_key", "files"]);
  let draft = null;

  function fieldsOf() {
    const out = {};
    new FormData(form).forEach((value, name) => {
      if (!SKIP.has(name) && typeof value === "string") out[name] = value;
    });
    return out;
  }
  function fileInput() {
    return form.querySelector("input[type=file][name=files]");
  }
  async function saveDraft() {
    draft.fields = fieldsOf();
    draft.saved = Date.now();
    await Outbox.putDraft(draft);
  }
  let timer = null;
  const saveSoon = () => { clearTimeout(timer); timer = setTimeout(saveDraft, 250); };

  function restore(saved) {
    Object.entries(saved.fields || {}).forEach(([name, value]) => {
      const el = form.elements[name];
      if (!el || el.type === "file") return;
      if (el.tagName === "SELECT" && value && !Array.from(el.options).some((o) => o.value === value)) el.add(new Option(value, value));
      el.value = value;
    });
    const input = fileInput();
    if (input && saved.files && saved.files.length && window.DataTransfer) {
      const dt = new DataTransfer();
      saved.files.forEach((f) => dt.items.add(new File([f.blob], f.name, { type: f.type || f.blob.type })));
      input.files = dt.files;
    }
    const note = document.getElementById("draft-note");
    if (note) {
      note.hidden = false;
      note.textContent = label("restored");
    }
    if (saved.errors) showErrors(saved.errors);
  }
  function showErrors(errors) {
    const box = document.getElementById("outbox-errors");
    if (!box) return;
    box.replaceChildren(...Object.values(errors).flat().map((m) => text("div", m)));
    box.hidden = false;
    box.scrollIntoView({ block: "center" });
  }
  function showQueued() {
    const box = document.getElementById("outbox-queued");
    if (!box) return;
    box.hidden = false;
    box.focus();
  }

  async function submitReport(event) {
    if (event.defaultPrevented) return; // the nearby check is still asking
    const submitter = event.submitter;
    if (submitter && submitter.hasAttribute("formaction")) return; // "same problem": a plain post to that case
    event.preventDefault();
    clearTimeout(timer);
    await saveDraft();
    const item = {
      key: draft.key,
      user: cfg.user,
      url: form.getAttribute("action") || window.location.pathname,
      tokenUrl: cfg.tokenUrl,
      title: draft.fields.title || "",
      fields: draft.fields,
      files: draft.files || [],
      state: "waiting",
      created: Date.now(),
    };
    await Outbox.put(item);
    if (navigator.onLine) {
      await flush();
      let mine = await Outbox.get(item.key);
      if (mine && mine.state === "waiting") { await flush(); mine = await Outbox.get(item.key); }
      if (mine && mine.state === "sent") {
        await Outbox.remove(item.key);
        await Outbox.dropDraft(scope());
        window.location.href = mine.caseUrl;
        return;
      }
      if (mine && mine.state === "refused") {
        await Outbox.remove(item.key); // the draft stays in the form, with its key, for editing
        showErrors(mine.errors);
        return;
      }
    }
    // No network: it waits on the phone; the form is free for the next report.
    await Outbox.dropDraft(scope());
    form.reset();
    const input = fileInput();
    if (input) input.value = "";
    delete form.dataset.checked;
    draft = { scope: scope(), key: Outbox.newKey(), fields: {}, files: [] };
    showQueued();
    askForSync();
  }

  async function startReport() {
    const saved = await Outbox.getDraft(scope()).catch(() => null);
    draft = saved || { scope: scope(), key: Outbox.newKey(), fields: {}, files: [] };
    if (saved) restore(saved);
    form.dataset.draftReady = "1";
    form.addEventListener("input", saveSoon);
    form.addEventListener("change", (event) => {
      if (event.target === fileInput()) {
        draft.files = Array.from(event.target.files || []).map((f) => ({ name: f.name, type: f.type, blob: f }));
      }
      saveSoon();
    });
    form.addEventListener("submit", submitReport);
  }

  document.addEventListener("DOMContentLoaded", () => {
    render();
    if (form) startReport();
    flush();
  });
})();

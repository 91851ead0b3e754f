// Form controls get Bootstrap classes; tree toggles collapse what htmx loaded.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("main input:not([type=checkbox]):not([type=hidden]):not([type=radio]), main textarea").forEach((el) => el.classList.add("form-control"));
  document.querySelectorAll("main select").forEach((el) => el.classList.add("form-select"));
  document.querySelectorAll("main input[type=checkbox]").forEach((el) => el.classList.add("form-check-input"));
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-tree-toggle]");
  if (!button) return;
  const target = document.getElementById(button.dataset.treeToggle);
  if (target && target.dataset.loaded === "1") {
    event.preventDefault();
    event.stopImmediatePropagation();
    const open = target.hidden;
    target.hidden = !open;
    button.textContent = open ? "▾" : "▸";
    button.setAttribute("aria-expanded", String(open));
  }
}, true);
document.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  if (target && target.dataset && "treeChildren" in target.dataset) {
    target.dataset.loaded = "1";
    target.hidden = false;
    const button = document.querySelector(`[data-tree-toggle="${target.id}"]`);
    if (button) { button.textContent = "▾"; button.setAttribute("aria-expanded", "true"); }
  }
});
// Pages carry no inline script (Content-Security-Policy): small behaviours are declared with data attributes.
// data-autosubmit: a select that submits its form when changed (the language switch).
document.addEventListener("change", (event) => {
  const el = event.target.closest("[data-autosubmit]");
  if (el && el.form) el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
});
// data-confirm on a button or a form: ask before submitting.
document.addEventListener("click", (event) => {
  const el = event.target.closest("button[data-confirm], input[type=submit][data-confirm]");
  if (el && !window.confirm(el.dataset.confirm)) { event.preventDefault(); event.stopImmediatePropagation(); }
}, true);
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
// data-fill-location: fill two fields with the device's position.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-fill-location]");
  if (!button || !navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition((p) => {
    document.getElementById(button.dataset.latField).value = p.coords.latitude.toFixed(6);
    document.getElementById(button.dataset.lngField).value = p.coords.longitude.toFixed(6);
  });
});
// data-fold-phone: sections folded on a phone (the case page's timeline and clocks), open on wider screens.
document.addEventListener("DOMContentLoaded", () => {
  if (!window.matchMedia("(max-width: 575.98px)").matches) return;
  document.querySelectorAll("details[data-fold-phone]").forEach((el) => { el.open = false; });
});
// data-print: a button that prints the page (the monthly report).
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});

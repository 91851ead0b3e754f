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

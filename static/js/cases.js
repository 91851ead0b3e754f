// Case pages: category filter, "use my location", the duplicate check before reporting, stock phrases,
// "tick all" in the queue, and the small map of a case (drawn without any tile server).
(function () {
  "use strict";

  // --- category picker: a text filter over the options, kept in their groups --------------------------
  const filter = document.getElementById("category-filter");
  const select = document.getElementById("id_category");
  if (filter && select) {
    const original = Array.from(select.children).map((node) => node.cloneNode(true));
    filter.addEventListener("input", () => {
      const q = filter.value.trim().toLowerCase();
      const chosen = select.value;
      select.replaceChildren();
      for (const node of original) {
        if (node.tagName !== "OPTGROUP") {
          select.appendChild(node.cloneNode(true));
          continue;
        }
        const groupHit = node.label.toLowerCase().includes(q);
        const hits = Array.from(node.children).filter((o) => !q || groupHit || o.textContent.toLowerCase().includes(q));
        if (!hits.length) continue;
        const group = node.cloneNode(false);
        hits.forEach((o) => group.appendChild(o.cloneNode(true)));
        select.appendChild(group);
      }
      const options = Array.from(select.options);
      if (options.some((o) => o.value === chosen && chosen)) {
        select.value = chosen;
      } else if (q) {
        const first = select.querySelector("optgroup option");
        if (first) select.value = first.value;
      }
    });
  }

  // --- use my location, then show the grid found ------------------------------------------------------
  const locate = document.getElementById("use-location");
  const out = document.getElementById("located");
  const latInput = document.getElementById("id_lat");
  const lngInput = document.getElementById("id_lng");

  function showGrid(lat, lng) {
    if (!locate || !out) return;
    const params = new URLSearchParams({ format: "json", lat: lat, lng: lng });
    fetch(locate.dataset.locateUrl + "?" + params, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => r.json().then((data) => ({ ok: r.ok, data: data })))
      .then(({ ok, data }) => {
        if (!ok || !data.grid) {
          out.textContent = locate.dataset.noGrid;
          out.className = "small mb-2 text-danger";
          return;
        }
        const g = data.grid;
        const path = (g.path || []).map((a) => a.name).join(" › ");
        out.textContent = "✓ " + (path ? path + " › " : "") + g.name + " (" + g.code + ")";
        out.className = "small mb-2 text-success";
        const region = document.getElementById("id_region");
        if (region) {
          let option = Array.from(region.options).find((o) => o.value === String(g.id));
          if (!option) {
            option = new Option(g.name + " (" + g.code + ")", String(g.id));
            region.add(option);
          }
          region.value = String(g.id);
          if (region.form) region.form.dispatchEvent(new Event("change"));
        }
      })
      .catch(() => { out.textContent = locate.dataset.failed; });
  }

  if (locate && latInput && lngInput) {
    locate.addEventListener("click", () => {
      if (!navigator.geolocation) {
        out.textContent = locate.dataset.unsupported;
        return;
      }
      out.textContent = locate.dataset.locating;
      out.className = "small mb-2";
      navigator.geolocation.getCurrentPosition(
        (p) => {
          latInput.value = p.coords.latitude.toFixed(6);
          lngInput.value = p.coords.longitude.toFixed(6);
          if (latInput.form) latInput.form.dispatchEvent(new Event("change")); // the draft keeps the place
          showGrid(latInput.value, lngInput.value);
        },
        (err) => { out.textContent = locate.dataset.failed + " " + (err.message || ""); },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
    const typed = () => { if (latInput.value && lngInput.value) showGrid(latInput.value, lngInput.value); };
    latInput.addEventListener("change", typed);
    lngInput.addEventListener("change", typed);
  }

  // --- before reporting: similar open cases nearby? (the chosen photos stay in the form) ---------------
  const reportForm = document.getElementById("report-form");
  if (reportForm) {
    reportForm.addEventListener("submit", (event) => {
      const submitter = event.submitter;
      if ((submitter && submitter.name === "confirm_nearby") || reportForm.dataset.checked === "1") return;
      if (submitter && submitter.hasAttribute("formaction")) return; // "same problem": adds to that case
      const field = (name) => (reportForm.querySelector("[name=" + name + "]") || {}).value || "";
      const lat = field("lat"), lng = field("lng"), category = field("category");
      if (!lat || !lng || !category) return;
      event.preventDefault();
      const params = new URLSearchParams({ category: category, lat: lat, lng: lng });
      const go = () => { reportForm.dataset.checked = "1"; reportForm.requestSubmit(); };
      fetch(reportForm.dataset.nearbyUrl + "?" + params, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.text() : ""))
        .then((html) => {
          const box = document.getElementById("nearby");
          if (html.trim() && box) {
            box.innerHTML = html;
            box.scrollIntoView({ behavior: "smooth", block: "center" });
          } else {
            go();
          }
        })
        .catch(go);
    });
  }

  // --- stock phrases (常用语) fill the comment of their form -------------------------------------------
  document.addEventListener("click", (event) => {
    const chip = event.target.closest("[data-template-text]");
    if (!chip) return;
    const form = chip.closest("form");
    const area = form && form.querySelector("textarea[name=comment]");
    if (!area) return;
    const text = chip.dataset.templateText;
    area.value = area.value.trim() ? area.value.trimEnd() + "\n" + text : text;
    area.focus();
  });

  // --- tick all cases of the queue ----------------------------------------------------------------------
  document.querySelectorAll("[data-check-all]").forEach((box) => {
    box.addEventListener("change", () => {
      box.closest("form").querySelectorAll("input[name=cases]").forEach((c) => { c.checked = box.checked; });
    });
  });

  // --- the case's pin on a small map (grid boundary drawn even without tiles) ---------------------------
  const el = document.getElementById("case-map");
  if (el && window.L) {
    const map = L.map(el, { attributionControl: true, scrollWheelZoom: false });
    if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { maxZoom: 19, attribution: el.dataset.tileAttribution || "" }).addTo(map);
    let boundary = null;
    try { boundary = JSON.parse(el.dataset.boundary || "null"); } catch (e) { boundary = null; }
    const grid = boundary ? L.geoJSON(boundary, { style: { color: "#0d6efd", weight: 2, fillOpacity: 0.08 } }) : null;
    const lat = parseFloat(el.dataset.lat), lng = parseFloat(el.dataset.lng);
    const pin = !Number.isNaN(lat) && !Number.isNaN(lng) ? L.latLng(lat, lng) : null;
    // The view is set before any layer is added: vector layers need a projected map.
    const bounds = grid ? grid.getBounds() : null;
    if (bounds && pin) bounds.extend(pin);
    if (bounds && bounds.isValid()) map.fitBounds(bounds, { padding: [12, 12], maxZoom: 18 });
    else if (pin) map.setView(pin, 17);
    else map.setView([30.6, 104.1], 10);
    if (grid) grid.addTo(map);
    if (pin) {
      L.marker(pin, { title: el.dataset.title || "" }).addTo(map);
      L.circleMarker(pin, { radius: 4, color: "#dc3545", fillOpacity: 0.9 }).addTo(map);
    }
    el.dataset.drawn = "1";
  }
})();

// The dispatch form: the lead department is not offered again among the assisting ones.
(function () {
  "use strict";
  function syncLead(select) {
    if (!select.form) return;
    select.form.querySelectorAll('input[name="' + select.dataset.leadOf + '"]').forEach((box) => {
      const isLead = box.value === select.value;
      const row = box.closest(".form-check") || box.parentElement;
      if (isLead) box.checked = false;
      box.disabled = isLead;
      if (row) row.hidden = isLead;
    });
  }
  const all = (root) => root.querySelectorAll("select[data-lead-of]").forEach(syncLead);
  document.addEventListener("change", (event) => {
    if (event.target.matches("select[data-lead-of]")) syncLead(event.target);
  });
  document.addEventListener("htmx:afterSettle", () => all(document)); // forms arrive by htmx as they are opened
  all(document);
})();

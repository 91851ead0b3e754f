// 民情地图: the region's areas coloured by their cases (a choropleth with a legend), a heatmap of the case points and
// the open cases as clustered markers. Everything comes from one GeoJSON endpoint (data-url), fetched again when the
// zoom changes (boundaries are simplified per zoom). Tiles come from data-tile-url when the city has a tile server;
// without one the boundaries are drawn on a plain background. No inline script: labels come from data-l-* attributes.
(function () {
  "use strict";
  const el = document.getElementById("case-map");
  if (!el || !window.L) return;
  const d = el.dataset;
  const status = document.querySelector("[data-testid=map-status]");
  const legend = document.querySelector("[data-testid=map-legend]");
  const COLOURS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
  const EMPTY = "#adb5bd";

  // The clusters need a maxZoom even without tiles; quarter zoom steps let a region fill the frame.
  const map = L.map(el, { attributionControl: true, maxZoom: 19, zoomSnap: 0.25 });
  if (d.tileUrl) L.tileLayer(d.tileUrl, { maxZoom: 19, attribution: d.tileAttribution || "" }).addTo(map);
  const num = (v) => (v === "" || v === undefined ? NaN : parseFloat(v));
  const box = [num(d.minLat), num(d.minLng), num(d.maxLat), num(d.maxLng)];
  const hasBox = box.every((v) => !isNaN(v));
  if (hasBox) map.fitBounds([[box[0], box[1]], [box[2], box[3]]], { padding: [8, 8] });
  else if (!isNaN(num(d.lat)) && !isNaN(num(d.lng))) map.setView([num(d.lat), num(d.lng)], 13);
  else map.setView([30.6, 104.1], 10);

  let measure = "count";
  let data = null;
  let breaks = [];

  function binsFor(max) {
    // Up to five classes of equal width over 1..max (whole numbers); zero has its own grey.
    const out = [];
    let lower = 1;
    for (let k = 1; k <= 5 && lower <= max; k++) {
      const upper = Math.max(lower, Math.ceil((max * k) / 5));
      out.push([lower, upper]);
      lower = upper + 1;
    }
    return out;
  }
  function colourOf(value) {
    if (!value) return EMPTY;
    for (let i = 0; i < breaks.length; i++) if (value <= breaks[i][1]) return COLOURS[i + (5 - breaks.length)];
    return COLOURS[4];
  }
  function styleOf(feature) {
    const v = feature.properties[measure] || 0;
    return { color: "#495057", weight: 1, fillColor: colourOf(v), fillOpacity: v ? 0.55 : 0.12 };
  }
  function swatch(colour) {
    const s = document.createElement("span");
    s.className = "casemap-swatch";
    s.style.backgroundColor = colour;
    return s;
  }
  function drawLegend() {
    if (!legend) return;
    legend.replaceChildren();
    const label = measure === "overdue" ? d.lOverdue : d.lCases;
    const rows = [[EMPTY, "0"]].concat(
      breaks.map((b, i) => [COLOURS[i + (5 - breaks.length)], b[0] === b[1] ? String(b[0]) : b[0] + "–" + b[1]]),
    );
    for (const [colour, text] of rows) {
      const li = document.createElement("li");
      li.append(swatch(colour), document.createTextNode(" " + text + " " + label));
      legend.append(li);
    }
  }

  function link(href, text) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }
  function areaPopup(p) {
    const box = document.createElement("div");
    const title = document.createElement("strong");
    title.textContent = p.name;
    const code = document.createElement("div");
    code.className = "small text-muted";
    code.textContent = p.code;
    const counts = document.createElement("div");
    counts.textContent = p.count + " " + d.lCases + " · " + p.overdue + " " + d.lOverdue;
    const links = document.createElement("div");
    links.className = "casemap-links";
    const u = data.area_urls;
    const id = String(p.id);
    links.append(link(u.cases.replace("{prefix}", p.prefix), d.lAreaCases), link(u.page.replace("{id}", id), d.lAreaPage));
    if (u.map) links.append(link(u.map.replace("{id}", id), d.lAreaMap));
    box.append(title, code, counts, links);
    return box;
  }
  function caseUrl(p) {
    return data.case_url.replace("{id}", String(p.id));
  }
  function casePopup(p) {
    const box = document.createElement("div");
    const title = document.createElement("strong");
    title.append(link(caseUrl(p), p.number));
    const labels = data.labels;
    const lines = [p.category, labels.states[p.state] || p.state, labels.lights[p.light || ""]].map((t) => {
      const div = document.createElement("div");
      div.textContent = t;
      return div;
    });
    const light = lines[2];
    light.className = "casemap-light casemap-light-" + (p.light || "none");
    box.append(title, ...lines, link(caseUrl(p), d.lOpenCase));
    return box;
  }
  function groupPopup(p) {
    const box = document.createElement("div");
    const counts = document.createElement("strong");
    counts.textContent = p.count + " " + d.lCases + " · " + p.overdue + " " + d.lOverdue;
    const hint = document.createElement("div");
    hint.className = "small";
    hint.textContent = d.lZoomIn;
    box.append(counts, hint);
    return box;
  }

  function countIcon(count, className) {
    const outer = document.createElement("div");
    const span = document.createElement("span");
    span.textContent = String(count);
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = " " + d.lCases;
    span.append(hidden);
    outer.append(span);
    return L.divIcon({ html: outer, className: "marker-cluster " + className, iconSize: L.point(40, 40) });
  }
  function sizeClass(n) {
    return n < 10 ? "marker-cluster-small" : n < 100 ? "marker-cluster-medium" : "marker-cluster-large";
  }

  const areas = L.geoJSON(null, {
    style: styleOf,
    onEachFeature: (feature, layer) => {
      layer.bindPopup(() => areaPopup(feature.properties));
      layer.on("add", () => {
        const path = layer.getElement && layer.getElement();
        if (path) path.setAttribute("data-code", feature.properties.code);
      });
    },
  }).addTo(map);
  const heat = L.heatLayer([], { radius: 18, blur: 15, maxZoom: 16, minOpacity: 0.25 }).addTo(map);
  const markers = L.markerClusterGroup({
    showCoverageOnHover: false,
    chunkedLoading: true,
    iconCreateFunction: (cluster) => {
      const n = cluster.getAllChildMarkers().reduce((sum, m) => sum + (m.options.count || 1), 0);
      return countIcon(n, sizeClass(n));
    },
  }).addTo(map);
  const overlays = {};
  overlays[d.lGrids] = areas;
  overlays[d.lHeat] = heat;
  overlays[d.lMarkers] = markers;
  // Risk warnings (mediation/risk): their own GeoJSON, for those who review them; a layer that can be toggled.
  const warnings = L.layerGroup();
  if (d.warningsUrl) overlays[d.lWarnings] = warnings.addTo(map);
  L.control.layers(null, overlays, { collapsed: window.innerWidth < 576 }).addTo(map);
  function warningPopup(p) {
    const box = document.createElement("div");
    const title = document.createElement("strong");
    title.textContent = p.rule_name;
    const who = document.createElement("div");
    who.textContent = p.subject;
    const why = document.createElement("div");
    why.className = "small";
    why.textContent = p.explanation;
    const state = document.createElement("div");
    state.className = "small text-muted";
    state.textContent = p.found_on + " · " + p.status_label;
    box.append(title, who, why, state, link(p.url, d.lOpenWarning));
    return box;
  }
  function loadWarnings() {
    if (!d.warningsUrl) return;
    fetch(d.warningsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
      .then((json) => {
        warnings.clearLayers();
        for (const f of json.features) {
          const [lng, lat] = f.geometry.coordinates;
          const icon = L.divIcon({ className: "casemap-warning", html: "!", iconSize: L.point(20, 20) });
          L.marker([lat, lng], { icon: icon, title: f.properties.rule_name, zIndexOffset: 1000 })
            .bindPopup(() => warningPopup(f.properties))
            .addTo(warnings);
        }
        el.dataset.warnings = String(json.features.length);
      })
      .catch((e) => {
        if (status) status.textContent = d.lError + " " + e.message;
      });
  }
  loadWarnings();

  function draw(json) {
    data = json;
    const polygons = json.features.filter((f) => f.properties.kind === "area");
    const cases = json.features.filter((f) => f.properties.kind === "case");
    const groups = json.features.filter((f) => f.properties.kind === "group");
    breaks = binsFor(json.max[measure] || 0);
    areas.clearLayers();
    areas.addData(polygons);
    markers.clearLayers();
    const pins = cases
      .filter((f) => f.properties.state !== "closed" && f.properties.state !== "cancelled")
      .map((f) => {
        const [lng, lat] = f.geometry.coordinates;
        const p = f.properties;
        const icon = L.divIcon({ className: "casemap-pin casemap-light-" + (p.light || "none"), iconSize: L.point(16, 16) });
        return L.marker([lat, lng], { icon: icon, title: p.number + " " + p.category, count: 1 }).bindPopup(() => casePopup(p));
      });
    const weighted = groups.map((f) => {
      const [lng, lat] = f.geometry.coordinates;
      const n = f.properties.count;
      return L.marker([lat, lng], { icon: countIcon(n, sizeClass(n)), count: n }).bindPopup(() => groupPopup(f.properties));
    });
    markers.addLayers(pins.concat(weighted));
    const heatPoints = cases
      .map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0], 1])
      .concat(groups.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0], f.properties.count]));
    const heatMax = groups.length ? Math.max(...groups.map((f) => f.properties.count)) : 2;
    heat.setOptions({ max: heatMax });
    heat.setLatLngs(heatPoints);
    drawLegend();
    if (!hasBox && polygons.length && !el.dataset.drawn) map.fitBounds(areas.getBounds(), { padding: [8, 8] });
    el.dataset.drawn = "1";
    el.dataset.areas = String(polygons.length);
    el.dataset.cases = String(cases.length);
    el.dataset.groups = String(groups.length);
    if (status) status.textContent = json.region.name + ": " + json.total + " " + d.lCases + " · " + json.overdue + " " + d.lOverdue;
  }

  let fetchedZoom = null;
  let controller = null;
  function load() {
    if (!d.url) return;
    const zoom = Math.round(map.getZoom());
    if (zoom === fetchedZoom) return;
    fetchedZoom = zoom;
    if (controller) controller.abort();
    controller = new AbortController();
    const sep = d.url.indexOf("?") >= 0 ? "&" : "?";
    fetch(d.url + sep + "zoom=" + zoom, { credentials: "same-origin", headers: { Accept: "application/json" }, signal: controller.signal })
      .then((r) => (r.ok ? r.json() : r.json().then((b) => Promise.reject(new Error(b.detail || r.status)))))
      .then(draw)
      .catch((e) => {
        if (e.name === "AbortError") return;
        fetchedZoom = null;
        if (status) status.textContent = d.lError + " " + e.message;
        el.dataset.failed = "1";
      });
  }
  map.on("zoomend", load);
  load();

  // The dates matter only for a date range: shown when it is chosen.
  const period = document.querySelector("[data-testid=map-filters] select[name=period]");
  const dates = document.querySelectorAll("[data-period-custom]");
  function showDates() {
    for (const div of dates) div.hidden = period.value !== "custom";
  }
  if (period) {
    period.addEventListener("change", showDates);
    showDates();
  }

  for (const radio of document.querySelectorAll("input[name=measure]")) {
    radio.addEventListener("change", () => {
      measure = radio.value;
      if (!data) return;
      breaks = binsFor(data.max[measure] || 0);
      areas.setStyle(styleOf);
      drawLegend();
    });
  }
})();

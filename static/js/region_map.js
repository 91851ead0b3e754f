// Draws a node's boundary with Leaflet. Tiles come from a configurable server; without one (or when it is
// unreachable) the boundary is still drawn on a plain background.
(function () {
  const el = document.getElementById("map");
  if (!el || !window.L) return;
  const map = L.map(el, { attributionControl: true });
  const tileUrl = el.dataset.tileUrl;
  if (tileUrl) L.tileLayer(tileUrl, { maxZoom: 19, attribution: el.dataset.tileAttribution || "" }).addTo(map);
  let boundary = null;
  try { boundary = JSON.parse(el.dataset.boundary || "null"); } catch (e) { boundary = null; }
  if (boundary) {
    const layer = L.geoJSON(boundary, { style: { color: "#0d6efd", weight: 2, fillOpacity: 0.15 } }).addTo(map);
    map.fitBounds(layer.getBounds(), { padding: [10, 10] });
    el.dataset.drawn = "1";
  } else if (el.dataset.lat && el.dataset.lng) {
    map.setView([parseFloat(el.dataset.lat), parseFloat(el.dataset.lng)], 15);
  } else {
    map.setView([30.6, 104.1], 10);
  }
  if (el.dataset.lat && el.dataset.lng) L.circleMarker([parseFloat(el.dataset.lat), parseFloat(el.dataset.lng)], { radius: 4 }).addTo(map);
})();

/* GovGrid's service worker (rendered by govgrid/pwa.py): precached static files with revisions, the last copy of
   the field pages, "needs the network" for the rest, and the outbox sent on Background Sync. */
"use strict";
const CONFIG = {{ config|safe }};
importScripts(...CONFIG.workbox, CONFIG.outbox);
const { core, precaching, routing, strategies } = self.workbox;

core.setCacheNameDetails({ prefix: "govgrid" });
self.skipWaiting();
core.clientsClaim();
// A new release lists new revisions: its worker fetches them and removes what the old release cached.
precaching.cleanupOutdatedCaches();
precaching.precacheAndRoute(CONFIG.precache);

// The pages a grid worker needs with no network: the network first, else the last copy kept.
const PAGES = "govgrid-pages";
routing.registerRoute(
  ({ request, url }) => request.mode === "navigate" && url.origin === self.location.origin && CONFIG.pages.includes(url.pathname),
  new strategies.NetworkFirst({ cacheName: PAGES, networkTimeoutSeconds: 6, matchOptions: { ignoreVary: true } })
);
// Every other page goes to the network; without one, the page that says so.
routing.registerRoute(({ request }) => request.mode === "navigate", new strategies.NetworkOnly());
routing.setCatchHandler(async ({ request }) => {
  if (request.mode === "navigate") {
    const page = await precaching.matchPrecache(CONFIG.offline);
    if (page) return page;
  }
  return Response.error();
});

self.addEventListener("sync", (event) => {
  if (event.tag === "govgrid-outbox") event.waitUntil(self.GovGridOutbox.flush());
});
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "forget-pages") event.waitUntil(caches.delete(PAGES));
  if (event.data && event.data.type === "flush") event.waitUntil(self.GovGridOutbox.flush());
  if (event.data && event.data.type === "warm") event.waitUntil(warm());
});

// Keep a copy of each field page as soon as the worker runs, not only of those the person happened to open.
async function warm() {
  const cache = await caches.open(PAGES);
  await Promise.all(CONFIG.pages.map(async (url) => {
    try {
      const response = await fetch(url, { credentials: "same-origin", redirect: "follow" });
      if (response.ok && !response.redirected) await cache.put(url, response);
    } catch (e) { /* no network: keep what is there */ }
  }));
}

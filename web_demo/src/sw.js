// Service worker: pre-caches every file of the site on install (site.json lists them) and answers
// from that cache first, so the app keeps working with no network. Cached responses keep their
// COOP/COEP headers, so the page stays cross-origin isolated (threads) offline too.
// `mocar web build` replaces the build id below, so a rebuilt site installs a fresh cache.

const CACHE = 'mocar-web-__BUILD_ID__';

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const site = await (await fetch('site.json', { cache: 'no-store' })).json();
    const cache = await caches.open(CACHE);
    await cache.addAll(['./', 'site.json', ...site.precache]);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((name) => name.startsWith('mocar-web-') && name !== CACHE)
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cached = await caches.match(request, { ignoreSearch: true, cacheName: CACHE });
    return cached || fetch(request);
  })());
});

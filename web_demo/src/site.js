// What `mocar web build` put into the site: site.json (models, metadata, golden vectors, the index)
// read through fetch — from the network on the first visit, from the service worker's cache offline.

import { ModelMetadata } from './core/metadata.js';
import { ReferenceIndex } from './core/reference_index.js';

export const SITE_SCHEMA = 'mocar-web-site';

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

export const fetchBytes = async (url) => (await fetchOk(url)).arrayBuffer();
export const fetchJson = async (url) => (await fetchOk(url)).json();

export async function loadSite() {
  const site = await fetchJson('site.json');
  if (site.schema !== SITE_SCHEMA) throw new Error(`site.json: schema '${site.schema}', expected '${SITE_SCHEMA}'`);
  return site;
}

/** A model entry's metadata as a ModelMetadata. */
export async function loadMetadata(model) {
  return new ModelMetadata(await fetchJson(model.metadata), model.metadata);
}

/** The bundled reference index, or null when the site has none. */
export async function loadIndex(site) {
  if (!site.reference_index) return null;
  return ReferenceIndex.load((name) => fetchBytes(`${site.reference_index}/${name}`));
}

/** Registers the service worker (pre-caches the whole site) and resolves once it controls the page. */
export async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return 'no service worker (needs HTTPS or localhost)';
  await navigator.serviceWorker.register('sw.js');
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
  }
  return 'works offline';
}

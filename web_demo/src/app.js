// The field app: photo -> the same answer as `mocar predict` (top-5, prediction sets, year range,
// look-alikes, the "unlike any reference" warning), computed in the browser from the site's model
// file, its metadata and the reference index. The answer JSON is also left in `window.mocar` so a
// test (tests/test_web_demo.py) can compare it with Python's.

import { answer } from './core/postprocess.js';
import { fromRgba, toTensor } from './core/preprocess.js';
import { chosenThreads, configureRuntime, openSession, runSession } from './runtime.js';
import { fetchBytes, loadIndex, loadMetadata, loadSite, registerServiceWorker } from './site.js';

const $ = (id) => document.getElementById(id);
const state = { ready: false, last: null, error: null };
window.mocar = state;

function element(tag, { dataset = {}, ...attributes } = {}, ...children) {
  const node = Object.assign(document.createElement(tag), attributes);
  Object.assign(node.dataset, dataset); // dataset is read-only: fill it instead
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const percent = (p) => `${(100 * p).toFixed(1)} %`;
const calendarYear = (y) => (y < 0 ? `${Math.round(-y)} BCE` : `${Math.round(y)} CE`);

/** Decodes a photo file to RGB pixels as Pillow sees them: no colour conversion, alpha on white. */
async function decodePhoto(file) {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return fromRgba(bitmap.width, bitmap.height, data);
}

function thumbnailUrl(index) {
  return (row) => {
    const jpeg = index.thumbnail(row);
    if (!jpeg) return null;
    let binary = '';
    for (const byte of jpeg) binary += String.fromCharCode(byte);
    return `data:image/jpeg;base64,${btoa(binary)}`; // as predict writes it
  };
}

function renderTop5(result) {
  return element('ol', { id: 'top5', className: 'top5' }, ...result.top5.map((entry, rank) => element('li',
    rank === 0 ? { id: 'top1' } : {},
    element('span', { className: 'label', textContent: entry.label }),
    element('span', { className: 'bar', style: `--p: ${entry.probability}` }),
    element('span', { className: 'prob', textContent: percent(entry.probability) }))));
}

function renderLevels(result) {
  const sets = result.prediction_set || {};
  const intervals = (result.year && result.year.interval) || {};
  const levels = [...new Set([...Object.keys(sets), ...Object.keys(intervals)])];
  const rows = levels.map((level) => {
    const range = intervals[level];
    const years = range === undefined ? '' : range === null ? 'any year' : `${calendarYear(range[0])} – ${calendarYear(range[1])}`;
    return element('tr', { dataset: { level } }, element('th', { textContent: `${Math.round(Number(level) * 100)} %` }),
      element('td', { className: 'set', textContent: (sets[level] || []).join(', ') }),
      element('td', { className: 'years', textContent: years }));
  });
  if (!rows.length) return null;
  const head = element('tr', {}, element('th', { textContent: 'coverage' }), element('th', { textContent: 'prediction set' }),
    element('th', { textContent: 'year range' }));
  return element('table', { id: 'levels' }, element('thead', {}, head), element('tbody', {}, ...rows));
}

function renderNearest(result) {
  if (!result.nearest.length) return null;
  return element('ul', { id: 'nearest', className: 'nearest' }, ...result.nearest.map((n) => element('li',
    { dataset: { id: n.id } },
    n.thumbnail ? element('img', { src: n.thumbnail, alt: n.id, width: 72, height: 72 }) : null,
    element('div', {}, element('strong', { textContent: n.id }), element('br'),
      `${n.collection || '–'} · ${n.dating || 'undated'}`, element('br'),
      element('small', { textContent: `similarity ${n.similarity.toFixed(3)}` })))));
}

function render(result, seconds) {
  const warnings = result.warnings.map((w) => element('p', { className: 'warning', textContent: w }));
  const year = result.year ? element('p', { id: 'year', textContent: `estimated year: ${calendarYear(result.year.estimate)}` }) : null;
  $('result').replaceChildren(
    result.ood && result.ood.unlike_references ? element('p', { id: 'unlike', className: 'alarm', textContent: 'Unlike any reference object' }) : null,
    ...warnings, renderTop5(result), year, renderLevels(result),
    result.nearest.length ? element('h2', { textContent: 'Most similar reference objects' }) : null, renderNearest(result),
    element('p', { className: 'meta', textContent: `answered in ${(1000 * seconds).toFixed(0)} ms on this device` }));
}

async function answerPhoto(app, file) {
  const started = performance.now();
  const image = await decodePhoto(file);
  const tensor = toTensor(image, app.meta);
  const outputs = await runSession(app.session, app.meta, tensor);
  const result = answer(outputs, app.meta, app.index, {
    k: app.site.k, file: file.name, model: `onnx file ${app.model.name}`,
    thumbnail: app.index ? thumbnailUrl(app.index) : undefined,
  });
  const seconds = (performance.now() - started) / 1000;
  state.last = { answer: result, outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, Array.from(v)])), seconds };
  render(result, seconds);
}

async function start() {
  const offline = registerServiceWorker().catch((err) => `no offline copy (${err.message})`);
  const site = await loadSite();
  const model = site.models.find((m) => m.file === site.app_model);
  const threads = chosenThreads();
  const runtime = configureRuntime(threads);
  const [meta, index, bytes] = await Promise.all([loadMetadata(model), loadIndex(site), fetchBytes(model.file)]);
  const session = await openSession(bytes, new URLSearchParams(location.search).get('pad_fusion') || 'off');
  const app = { site, model, meta, index, session };
  $('photo').disabled = false;
  $('gallery').disabled = false;
  for (const input of [$('photo'), $('gallery')]) {
    input.addEventListener('change', () => input.files[0] && answerPhoto(app, input.files[0]).catch(fail));
  }
  $('status').textContent = `${model.name} · ${meta.labels.length} classes · ${index ? `${index.size} references` : 'no index'}`
    + ` · ${runtime.runtime} ${runtime.version} (${runtime.threads} thread${threads > 1 ? 's' : ''}) · ${await offline}`;
  state.ready = true;
}

function fail(err) {
  state.error = String(err && err.stack ? err.stack : err);
  $('result').replaceChildren(element('p', { className: 'alarm', textContent: `Error: ${err.message || err}` }));
  console.error(err);
}

start().catch(fail);

// The benchmark page: every model file the site bundles, timed in this browser (warm-up by time,
// then N timed runs), checked against the golden outputs shipped with it (the browser's own parity),
// and written as bench rows — downloadable, and posted back to `mocar web serve` when it serves the
// page — so that `mocar bench --import` merges them into report.html, labelled by device.
// URL options: ?warmup=SECONDS (default 2) &runs=N (default 50) &threads=N &device=LABEL &autorun=1
// &pad_fusion=default (keeps onnxruntime-web's Pad_Fusion, which breaks Pad -> MaxPool graphs).

import { ModelMetadata } from './core/metadata.js';
import { nhwcToNchw } from './core/preprocess.js';
import { benchRow, deviceFields, latencyStats, parity } from './bench_stats.js';
import { chosenThreads, configureRuntime, openSession, runSession } from './runtime.js';
import { fetchBytes, fetchJson, loadSite, registerServiceWorker } from './site.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const settings = {
  warmupSeconds: Number(params.get('warmup') || 2), runs: Number(params.get('runs') || 50),
  padFusion: params.get('pad_fusion') || 'off',
};
const state = { done: false, rows: null, posted: null, error: null, parity: {} };
window.mocarBench = state;

/** Golden cases as {input, expected}: the golden input (NHWC) laid out as the file wants. */
async function goldenCases(model, meta) {
  if (!model.golden) return [];
  const folder = model.golden.slice(0, model.golden.lastIndexOf('/') + 1);
  const golden = await fetchJson(model.golden);
  const floats = async (record) => new Float32Array(await fetchBytes(folder + record.file));
  return Promise.all(golden.cases.map(async (c) => {
    const nhwc = await floats(c.input);
    const expected = {};
    for (const [name, record] of Object.entries(c.outputs)) expected[name] = await floats(record);
    return { input: meta.layout === 'NCHW' ? nhwcToNchw(nhwc, meta.inputSize) : nhwc, expected };
  }));
}

async function timeModel(session, meta, input) {
  const warmupEnd = performance.now() + 1000 * settings.warmupSeconds;
  do await runSession(session, meta, input); while (performance.now() < warmupEnd); // by time: counts mislead
  const times = [];
  for (let i = 0; i < settings.runs; i++) {
    const tick = performance.now();
    await runSession(session, meta, input);
    times.push(performance.now() - tick);
  }
  return latencyStats(times);
}

async function measure(model, device, threads) {
  const meta = new ModelMetadata(await fetchJson(model.metadata), model.metadata);
  const bytes = await fetchBytes(model.file);
  const loadStart = performance.now();
  const session = await openSession(bytes, settings.padFusion);
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const cases = await goldenCases(model, meta);
  const checked = [];
  for (const c of cases) checked.push({ actual: await runSession(session, meta, c.input), expected: c.expected });
  const check = checked.length ? parity(checked) : null;
  const input = cases.length ? cases[0].input : new Float32Array(meta.input.shape.reduce((a, b) => a * b, 1));
  const stats = await timeModel(session, meta, input);
  await session.release();
  state.parity[model.name] = check;
  return benchRow(model, meta, { load_s: loadSeconds, stats }, check, device, threads);
}

const fixedOrDash = (value, digits) => (value === null || value === undefined ? '–' : Number(value).toFixed(digits));

function showRow(row, check) {
  const errors = check ? Object.entries(check.max_abs).map(([name, v]) => `${name} ${v.toExponential(1)}`).join(', ') : 'no golden vectors';
  $('rows').append(Object.assign(document.createElement('tr'), {
    innerHTML: '<td></td><td></td><td></td><td></td><td></td><td></td><td></td>',
  }));
  const cells = $('rows').lastElementChild.children;
  [row.export, fixedOrDash(row.p50_ms, 2), fixedOrDash(row.p90_ms, 2), fixedOrDash(row.mean_ms, 2),
    fixedOrDash(row.size_mb, 2), check ? `${check.agreement.toFixed(0)} %` : '–', errors]
    .forEach((text, i) => { cells[i].textContent = text; });
}

/** Posts the rows to `mocar web serve` (which validates and stores them); a static host has no endpoint. */
async function postRows(document_) {
  try {
    const response = await fetch('bench_rows', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(document_) });
    const reply = await response.json().catch(() => ({}));
    return response.ok ? `sent to the server: ${reply.saved}` : `not stored by the server: ${reply.error || response.status}`;
  } catch (err) {
    return `not sent (${err.message}); download the JSON instead`;
  }
}

async function run() {
  $('start').disabled = true;
  const site = await loadSite();
  const threads = chosenThreads(params);
  const runtime = configureRuntime(threads);
  const device = deviceFields({
    device: $('device').value.trim(), userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency,
    crossOriginIsolated: self.crossOriginIsolated, runtime,
  });
  $('device-info').textContent = `${device.device} · ${device.cores} cores · ${device.delegate} · ${runtime.runtime} `
    + `${runtime.version} · ${threads} thread(s) · warm-up ${settings.warmupSeconds} s, ${settings.runs} timed runs`;
  const rows = [];
  for (const model of site.models) {
    $('progress').textContent = `measuring ${model.name} …`;
    const row = await measure(model, device, threads);
    rows.push(row);
    showRow(row, state.parity[model.name]);
  }
  // The import file's shape: what every row shares at the top, the rows below (docs/bench_rows.md).
  const shared = { device: device.device, os: device.os, runtime: device.runtime, runtime_version: device.runtime_version };
  const document_ = { ...shared, rows: rows.map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !(k in shared)))) };
  state.rows = document_;
  const blob = new Blob([JSON.stringify(document_, null, 1)], { type: 'application/json' });
  Object.assign($('download'), { href: URL.createObjectURL(blob), download: `mocar-bench-${shared.device.replace(/\W+/g, '_')}.json`, hidden: false });
  state.posted = await postRows(document_);
  $('progress').textContent = `done: ${rows.length} file(s); ${state.posted}`;
  state.done = true;
}

function fail(err) {
  state.error = String(err && err.stack ? err.stack : err);
  $('progress').textContent = `Error: ${err.message || err}`;
  console.error(err);
}

$('device').value = params.get('device') || '';
$('start').addEventListener('click', () => run().catch(fail));
registerServiceWorker().then(() => {
  $('start').disabled = false;
  if (params.get('autorun')) run().catch(fail);
}).catch(fail);

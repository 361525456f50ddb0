// Drives Debian's Chromium (headless, through puppeteer-core: no browser download) for the Python
// browser tests (tests/test_web_demo.py) and the browser benchmark (benchmarks/web_browser.py).
// Prints one JSON object on stdout: what the page computed and every console error it logged.
//
//   node drive.mjs app   --url URL --photo FILE --profile DIR   answer one photo in the app
//   node drive.mjs bench --url URL --profile DIR                run the benchmark page (URL has its options)
//   node drive.mjs page  --url URL                              open any page (e.g. report.html), count plots
//
// --profile keeps the browser profile (service worker, caches) between runs: the offline check runs
// the app a second time on the same profile after the server has stopped.

import { parseArgs } from 'node:util';

import puppeteer from 'puppeteer-core';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' }, photo: { type: 'string' }, profile: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
    timeout: { type: 'string', default: '120' },
  },
});
const timeout = Number(values.timeout) * 1000;

async function openPage(browser, consoleErrors) {
  const page = await browser.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
  page.on('requestfailed', (request) => consoleErrors.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  page.setDefaultTimeout(timeout);
  return page;
}

async function answerPhoto(page) {
  const started = Date.now();
  await page.goto(values.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.mocar && (window.mocar.ready || window.mocar.error));
  const readySeconds = (Date.now() - started) / 1000;
  const input = await page.$('#gallery');
  await input.uploadFile(values.photo);
  await page.waitForFunction(() => window.mocar.last || window.mocar.error);
  const firstAnswerSeconds = (Date.now() - started) / 1000;
  return page.evaluate((ready, first) => ({
    error: window.mocar.error, last: window.mocar.last, ready_s: ready, first_answer_s: first,
    status: document.getElementById('status').textContent,
    crossOriginIsolated: self.crossOriginIsolated,
    controlledByServiceWorker: Boolean(navigator.serviceWorker.controller),
    shown: {
      top1: document.querySelector('#top1 .label')?.textContent ?? null,
      levels: Array.from(document.querySelectorAll('#levels tbody tr')).map((row) => ({
        level: row.dataset.level, set: row.querySelector('.set').textContent, years: row.querySelector('.years').textContent,
      })),
      nearest: Array.from(document.querySelectorAll('#nearest li')).map((li) => li.dataset.id),
      thumbnails: document.querySelectorAll('#nearest img').length,
      year: document.getElementById('year')?.textContent ?? null,
    },
  }), readySeconds, firstAnswerSeconds);
}

async function runBenchmark(page) {
  await page.goto(values.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.mocarBench && (window.mocarBench.done || window.mocarBench.error));
  return page.evaluate(() => ({ ...window.mocarBench, crossOriginIsolated: self.crossOriginIsolated }));
}

async function openAny(page) {
  await page.goto(values.url, { waitUntil: 'networkidle0' });
  return page.evaluate(() => ({
    title: document.title,
    images: document.querySelectorAll('img').length,
    brokenImages: Array.from(document.querySelectorAll('img')).filter((img) => !img.complete || img.naturalWidth === 0)
      .map((img) => img.getAttribute('src')?.slice(0, 80)),
    svgs: document.querySelectorAll('svg').length,
    canvases: document.querySelectorAll('canvas').length,
    plotly: document.querySelectorAll('.plotly-graph-div, .js-plotly-plot').length,
  }));
}

const MODES = { app: answerPhoto, bench: runBenchmark, page: openAny };

async function main() {
  const mode = MODES[positionals[0]];
  if (!mode || !values.url) throw new Error(`usage: drive.mjs (${Object.keys(MODES).join('|')}) --url URL [--photo FILE] [--profile DIR]`);
  const browser = await puppeteer.launch({
    executablePath: values.chromium, headless: true, userDataDir: values.profile,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const consoleErrors = [];
  try {
    const result = await mode(await openPage(browser, consoleErrors));
    process.stdout.write(`${JSON.stringify({ ...result, consoleErrors })}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});

// The model runtime in the browser: onnxruntime-web's CPU (WebAssembly) build.
//
// Why these settings (measured, docs/toolchain_findings.md):
// * `Pad_Fusion` is disabled: it folds Pad(constant 0) -> MaxPool into MaxPool's own padding, which
//   pads with -inf, so a GroupNorm model's logits came out wrong by 0.075 (fp32) / 0.18 (int8).
//   `?pad_fusion=default` on a page keeps the runtime's default, so a test can show the difference.
// * the CPU build (`ort.wasm.min.mjs` + `ort-wasm-simd-threaded.{mjs,wasm}`) instead of the default
//   bundle, which pulls a 29.5 MB wasm with WebGPU; the files sit in ort/ next to the pages.
// * threads are read once, at the first session; more than one needs cross-origin isolation (COOP +
//   COEP headers: `mocar web serve` sends them, and the service worker keeps them offline).

import * as ort from './ort/ort.wasm.min.mjs';

export const RUNTIME = 'onnxruntime-web';
export const BACKEND = 'wasm';
const SAFE_OPTIMIZATION = { disable_specified_optimizers: 'Pad_Fusion' };

let configuredThreads = null;

/** Thread count to use: `?threads=N`, else 1 without cross-origin isolation, else up to 4 cores. */
export function chosenThreads(params = new URLSearchParams(location.search)) {
  const asked = Number(params.get('threads'));
  if (asked >= 1) return crossOriginIsolated ? Math.floor(asked) : 1;
  return crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
}

/** Configures the runtime once (wasm file folder, threads); later calls must ask for the same threads. */
export function configureRuntime(threads) {
  if (configuredThreads !== null && configuredThreads !== threads) {
    throw new Error(`the runtime already runs ${configuredThreads} thread(s); reload the page to change it`);
  }
  ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href; // must end with a slash
  ort.env.wasm.numThreads = threads;
  configuredThreads = threads;
  return { runtime: RUNTIME, version: ort.env.versions.web, backend: BACKEND, threads };
}

/** Session options; `padFusion: 'default'` keeps onnxruntime-web's (wrong for Pad -> MaxPool) default. */
export function sessionOptions(padFusion = 'off') {
  const options = { executionProviders: [BACKEND], graphOptimizationLevel: 'all' };
  if (padFusion !== 'default') options.extra = { optimization: SAFE_OPTIMIZATION };
  return options;
}

/** Opens a model file (bytes) as an inference session. */
export async function openSession(bytes, padFusion = 'off') {
  return ort.InferenceSession.create(new Uint8Array(bytes), sessionOptions(padFusion));
}

/** Runs one float32 input (batch 1, the metadata's shape) and returns {outputName: Float32Array}. */
export async function runSession(session, meta, input) {
  const tensor = new ort.Tensor('float32', input, meta.input.shape);
  const results = await session.run({ [session.inputNames[0]]: tensor });
  return Object.fromEntries(session.outputNames.map((name) => [name, results[name].data]));
}

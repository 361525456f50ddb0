// Pure pieces of the benchmark page, unit-tested in Node: latency statistics like mocar.bench.suite
// (numpy's median and linear-interpolation percentiles), the browser's parity against a file's golden
// outputs, and rows in the bench-row schema (docs/bench_rows.md) that `mocar bench --import` accepts.

/** numpy.percentile with its default linear interpolation. */
export function percentile(values, q) {
  const sorted = Float64Array.from(values).sort();
  const position = (sorted.length - 1) * (q / 100);
  const low = Math.floor(position);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

/** p50/p90/mean/min/max/std (population, like numpy's default) of timed runs in ms. */
export function latencyStats(times) {
  if (!times.length) throw new Error('no timed runs');
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const variance = times.reduce((a, t) => a + (t - mean) ** 2, 0) / times.length;
  return {
    p50_ms: percentile(times, 50), p90_ms: percentile(times, 90), mean_ms: mean,
    min_ms: Math.min(...times), max_ms: Math.max(...times), std_ms: Math.sqrt(variance), timed_runs: times.length,
  };
}

const argmax = (values) => values.reduce((best, v, i) => (v > values[best] ? i : best), 0);

function cosine(a, b) {
  let dot = 0; let na = 0; let nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return dot / Math.sqrt(na * nb);
}

/**
 * The browser's outputs vs the golden outputs (Python onnxruntime on the same file), over cases.
 *
 * @param {Array<{actual: object, expected: object}>} cases each {outputName: Float32Array}
 * @returns {{cases: number, agreement: number, max_abs: object, embedding_cosine_min: number|null}}
 *   agreement: percent of cases with the same top-1 class; max_abs: per output, the largest |difference|
 */
export function parity(cases) {
  const maxAbs = {};
  let same = 0;
  const cosines = [];
  for (const { actual, expected } of cases) {
    for (const [name, want] of Object.entries(expected)) {
      const got = actual[name];
      if (!got || got.length !== want.length) throw new Error(`output '${name}': got ${got ? got.length : 0} values, golden ${want.length}`);
      let worst = maxAbs[name] || 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      maxAbs[name] = worst;
    }
    same += argmax(actual.logits) === argmax(expected.logits) ? 1 : 0;
    if (expected.embedding) cosines.push(cosine(actual.embedding, expected.embedding));
  }
  return {
    cases: cases.length, agreement: (100 * same) / cases.length, max_abs: maxAbs,
    embedding_cosine_mean: cosines.length ? cosines.reduce((a, b) => a + b, 0) / cosines.length : null,
  };
}

/** A short device label from the user agent (the page lets the user type a better one, e.g. 'Pixel 7'). */
export function deviceLabel(userAgent) {
  const browser = (userAgent.match(/(Edg|Firefox|Chrome|Chromium|Version)\/(\d+)/) || [])[0] || 'browser';
  const platform = (userAgent.match(/\(([^;)]+)/) || [])[1] || 'unknown platform';
  return `${browser.replace('Version', 'Safari')} on ${platform}`;
}

/**
 * The machine fields of every row: device, os (the whole user agent), cores (hardwareConcurrency),
 * runtime and version, and the backend with the cross-origin isolation that decides threads.
 */
export function deviceFields({ device, userAgent, hardwareConcurrency, crossOriginIsolated, runtime }) {
  return {
    device: device || deviceLabel(userAgent), os: userAgent, cores: hardwareConcurrency || null,
    runtime: runtime.runtime, runtime_version: runtime.version,
    delegate: `${runtime.backend}${crossOriginIsolated ? ' (cross-origin isolated)' : ' (not isolated: 1 thread)'}`,
  };
}

/** One bench row (docs/bench_rows.md) of a model file measured in this browser. */
export function benchRow(model, meta, timing, check, device, threads) {
  return {
    export: model.name, format: model.format, precision: model.precision, flavour: model.flavour || null,
    threads, input_size: meta.inputSize, size_mb: model.size_bytes / 1e6, load_s: timing.load_s,
    ...timing.stats, throughput_ips: 1000 / timing.stats.p50_ms,
    agreement: check ? check.agreement : null, max_abs_logits: check ? check.max_abs.logits : null,
    embedding_cosine_mean: check ? check.embedding_cosine_mean : null, ...device,
  };
}

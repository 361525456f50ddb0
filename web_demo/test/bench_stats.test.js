// The benchmark page's statistics and rows: numpy's percentiles, per-output parity, the row schema.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { benchRow, deviceFields, deviceLabel, latencyStats, parity, percentile } from '../src/bench_stats.js';

test('percentiles interpolate linearly like numpy', () => {
  const times = [4, 1, 3, 2, 10];
  assert.equal(percentile(times, 50), 3);
  assert.equal(percentile(times, 90), 7.6000000000000005); // numpy.percentile([4, 1, 3, 2, 10], 90), bit for bit
  const stats = latencyStats(times);
  assert.equal(stats.mean_ms, 4);
  assert.equal(stats.timed_runs, 5);
  assert.equal(stats.min_ms, 1);
});

test('parity reports top-1 agreement and the largest error per output', () => {
  const expected = { logits: Float32Array.from([1, 2, 3]), embedding: Float32Array.from([1, 0]) };
  const check = parity([
    { actual: { logits: Float32Array.from([1, 2, 3.5]), embedding: Float32Array.from([1, 0]) }, expected },
    { actual: { logits: Float32Array.from([4, 2, 3]), embedding: Float32Array.from([0, 1]) }, expected },
  ]);
  assert.equal(check.agreement, 50);
  assert.equal(check.max_abs.logits, 3);
  assert.equal(check.embedding_cosine_mean, 0.5);
  assert.throws(() => parity([{ actual: { logits: Float32Array.from([1]) }, expected }]), /logits/);
});

test('rows carry the schema fields and the device record', () => {
  const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
  assert.equal(deviceLabel(ua), 'Chrome/156 on X11');
  const device = deviceFields({ device: '', userAgent: ua, hardwareConcurrency: 8, crossOriginIsolated: true,
    runtime: { runtime: 'onnxruntime-web', version: '1.31.1', backend: 'wasm' } });
  const row = benchRow({ name: 'model_fp32.onnx', format: 'onnx', precision: 'fp32', size_bytes: 2e6 },
    { inputSize: 32 }, { load_s: 0.5, stats: latencyStats([1, 2]) }, null, device, 1);
  assert.equal(row.device, 'Chrome/156 on X11');
  assert.equal(row.delegate, 'wasm (cross-origin isolated)');
  assert.equal(row.size_mb, 2);
  assert.equal(row.p50_ms, 1.5);
  assert.equal(row.agreement, null);
});

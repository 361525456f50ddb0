// Preprocessing is bit-identical to Python's: Pillow's resize on synthetic shapes (both pass orders),
// the alpha composite, and each golden case's whole tensor (decoded pixels -> model input).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ModelMetadata } from '../src/core/metadata.js';
import { resize } from '../src/core/pillow_resize.js';
import { fromRgba, nhwcToNchw, toTensor } from '../src/core/preprocess.js';
import { folders, skipReason } from './golden_folder.js';

/** The first golden folder with the Pillow checks (a web site keeps them in one folder only). */
function withChecks() {
  const golden = folders().find((g) => g.json.checks);
  assert.ok(golden, 'no golden folder holds the resize checks');
  return golden;
}

function countDiffering(actual, expected) {
  assert.equal(actual.length, expected.length, 'length');
  let differing = 0;
  for (let i = 0; i < expected.length; i++) differing += Object.is(actual[i], expected[i]) ? 0 : 1;
  return differing;
}

test('Pillow resize is reproduced exactly (bilinear, bicubic, up, down, both pass orders)', { skip: skipReason }, () => {
  const golden = withChecks();
  const checks = golden.json.checks.resize;
  assert.ok(checks.length >= 7);
  for (const [number, check] of checks.entries()) {
    const source = golden.image(check.source);
    for (const [name, record] of Object.entries(check.expected)) {
      const out = resize(source, record.shape[1], record.shape[0], name);
      const differing = countDiffering(out.rgb, golden.array(record));
      assert.equal(differing, 0, `resize check ${number} (${source.width}x${source.height} -> `
        + `${record.shape[1]}x${record.shape[0]}, ${name}): ${differing} bytes differ`);
    }
  }
});

test('transparent pixels are composited on white like Pillow', { skip: skipReason }, () => {
  const golden = withChecks();
  const { rgba, expected } = golden.json.checks.alpha;
  const out = fromRgba(rgba.shape[1], rgba.shape[0], golden.array(rgba));
  assert.equal(countDiffering(out.rgb, golden.array(expected)), 0);
});

test('input tensors are bit-identical to Python (every golden case)', { skip: skipReason }, () => {
  for (const golden of folders()) {
    const meta = new ModelMetadata(golden.json.metadata, golden.name);
    for (const c of golden.json.cases) {
      const actual = toTensor(golden.image(c.pixels), meta);
      const nhwc = golden.array(c.input);
      const expected = meta.layout === 'NCHW' ? nhwcToNchw(nhwc, meta.inputSize) : nhwc;
      assert.equal(countDiffering(actual, expected), 0, `${golden.name} ${c.name}: tensor values differ`);
    }
  }
});

test('an unknown interpolation is refused with the valid names', () => {
  const image = { width: 2, height: 2, rgb: new Uint8Array(12) };
  assert.throws(() => resize(image, 1, 1, 'lanczos'), /'lanczos'.*valid: bilinear, bicubic/);
});

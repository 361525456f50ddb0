// Answers are identical to `mocar predict`'s (the golden cases' answers): top-5 labels and
// probabilities, prediction sets, year and intervals, look-alikes, the OOD verdict and the warnings.
// Tolerances are those of the Android core's golden test: probabilities 1e-12 (exp/log may differ in
// the last bit), years 1e-9, similarities 1e-5 (float32 sums in another order than BLAS).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ModelMetadata } from '../src/core/metadata.js';
import { answer, fixed, rankScores, softmax } from '../src/core/postprocess.js';
import { pairwiseSum } from '../src/core/numpy_sum.js';
import { halfToFloat, topK } from '../src/core/reference_index.js';
import { folders, skipReason } from './golden_folder.js';

const PROBABILITY_TOLERANCE = 1e-12;
const YEAR_TOLERANCE = 1e-9;
const SIMILARITY_TOLERANCE = 1e-5;
const SCORE_TIE = 1e-9;

function outputsOf(golden, c) {
  return Object.fromEntries(Object.entries(c.outputs).map(([name, record]) => [name, golden.array(record)]));
}

function closeTo(actual, expected, tolerance, what) {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} != ${expected} (tolerance ${tolerance})`);
}

/** True when two sets of a level differ only at a rank whose score sits on the threshold. */
function differsAtTie(got, want, probs, constants, level) {
  const boundary = Math.min(got.length, want.length);
  const threshold = constants.thresholds[level];
  return threshold !== null && Math.abs(rankScores(probs, constants)[boundary] - threshold) <= SCORE_TIE;
}

function compareAnswer(where, got, want, meta, probs, borderline) {
  assert.deepEqual(got.top5.map((e) => e.label), want.top5.map((e) => e.label), `${where} top5 labels`);
  got.top5.forEach((e, r) => closeTo(e.probability, want.top5[r].probability, PROBABILITY_TOLERANCE, `${where} top5[${r}]`));
  for (const key of ['prediction_set', 'collection_set']) {
    const levels = Object.keys(want[key] || {});
    assert.deepEqual(Object.keys(got[key] || {}), levels, `${where} ${key} levels`);
    for (const level of levels) {
      if (JSON.stringify(got[key][level]) === JSON.stringify(want[key][level])) continue;
      // Sets may differ only where a rank's score sits on the threshold (a floating-point tie).
      assert.ok(key === 'prediction_set' && differsAtTie(got[key][level], want[key][level], probs,
        meta.calibration.classes, level), `${where} ${key}[${level}] ${got[key][level]} != ${want[key][level]}`);
      borderline.push(`${where} ${key}[${level}]`);
    }
  }
  assert.equal(got.year === null, want.year === null, `${where} year presence`);
  if (want.year) {
    closeTo(got.year.estimate, want.year.estimate, YEAR_TOLERANCE, `${where} year`);
    assert.deepEqual(Object.keys(got.year.interval || {}), Object.keys(want.year.interval || {}), `${where} intervals`);
    for (const [level, range] of Object.entries(want.year.interval || {})) {
      if (range === null) assert.equal(got.year.interval[level], null);
      else range.forEach((v, i) => closeTo(got.year.interval[level][i], v, YEAR_TOLERANCE, `${where} interval ${level}`));
    }
  }
  assert.equal(got.nearest.length, want.nearest.length, `${where} nearest count`);
  got.nearest.forEach((n, r) => {
    const { similarity, ...rest } = n;
    const { similarity: expected, ...wanted } = want.nearest[r];
    assert.deepEqual(rest, wanted, `${where} nearest[${r}]`);
    closeTo(similarity, expected, SIMILARITY_TOLERANCE, `${where} nearest[${r}] similarity`);
  });
  assert.equal(got.ood === null, want.ood === null, `${where} ood presence`);
  if (want.ood) {
    const { score, ...verdict } = got.ood;
    const { score: expected, ...wanted } = want.ood;
    closeTo(score, expected, SIMILARITY_TOLERANCE, `${where} ood score`);
    if (Math.abs(expected - want.ood.threshold) > SIMILARITY_TOLERANCE) assert.deepEqual(verdict, wanted, `${where} ood`);
    else borderline.push(`${where} ood`);
  }
  if (!borderline.includes(`${where} ood`)) assert.deepEqual(got.warnings, want.warnings, `${where} warnings`);
}

test('answers equal mocar predict (every golden case)', { skip: skipReason }, async () => {
  const borderline = [];
  let compared = 0;
  for (const golden of folders()) {
    const meta = new ModelMetadata(golden.json.metadata, golden.name);
    const index = await golden.index();
    for (const c of golden.json.cases) {
      const outputs = outputsOf(golden, c);
      const got = answer(outputs, meta, index, { k: golden.json.k, file: c.answer.file, model: c.answer.model });
      assert.deepEqual(Object.keys(got), Object.keys(c.answer), `${golden.name} ${c.name}: answer keys`);
      compareAnswer(`${golden.name} ${c.name}`, got, c.answer, meta, softmax(outputs.logits), borderline);
      compared++;
    }
  }
  assert.ok(compared > 0);
  if (borderline.length) console.log(`borderline (floating-point ties, not failures): ${borderline.join('; ')}`);
});

test('the reference search returns Python rows and similarities (every golden case)', { skip: skipReason }, async () => {
  for (const golden of folders()) {
    const index = await golden.index();
    for (const c of golden.json.cases.filter((x) => x.search)) {
      const found = index.search(golden.array(c.outputs.embedding), c.search.rows.length);
      assert.deepEqual(found.rows, c.search.rows, `${golden.name} ${c.name} rows`);
      found.similarities.forEach((s, i) => closeTo(s, c.search.similarities[i], SIMILARITY_TOLERANCE, `${c.name} sim ${i}`));
    }
  }
});

test("numpy's pairwise sum and Python's fixed-point formatting", () => {
  const values = Array.from({ length: 300 }, (_, i) => 1 / (i + 1));
  let naive = 0;
  values.forEach((v) => { naive += v; });
  closeTo(pairwiseSum(values), naive, 1e-12, 'pairwise sum');
  assert.equal(fixed(0.125, 2), '0.12'); // exact tie: half to even, as Python's format
  assert.equal(fixed(0.375, 2), '0.38');
  assert.equal(fixed(2.5, 0), '2');
  assert.equal(fixed(0.1234, 3), '0.123');
  assert.equal(fixed(5.000000000000001, 0), '5');
});

test('half floats decode exactly and top-k keeps ties at the lower row', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  const found = topK(Float32Array.from([0.5, 0.9, 0.5, 0.9, 0.1]), 3);
  assert.deepEqual(found.rows, [1, 3, 0]);
});

// Model outputs to a field answer, step by step as mocar/field/predict.py:answer_one (mirrors the
// Android core's Postprocessor): softmax, top-5, conformal sets and year intervals as conformal.py,
// look-alikes and the OOD verdict. The answer has the shape of `mocar predict`'s JSON (schema
// mocar-field-prediction v1). Class arithmetic is in double like numpy's float64; Math.exp/log may
// differ from numpy's in the last bit, which changes an answer only when a value sits exactly on a
// threshold (the golden tests report such ties).

import { pairwiseSum } from './numpy_sum.js';
import { oodVerdict } from './ood.js';

export const PREDICTION_SCHEMA = 'mocar-field-prediction';
export const TOP_K = 5;
/** conformal.SCORE_TOLERANCE: a score on its threshold is in the set on every machine. */
export const SCORE_TOLERANCE = 1e-9;

/** runs.softmax: exp(x - max - log(sum(exp(x - max)))) in double. */
export function softmax(logits) {
  const peak = Math.max(...logits);
  const shifted = Array.from(logits, (v) => v - peak);
  const logSum = Math.log(pairwiseSum(shifted.map(Math.exp)));
  return shifted.map((v) => Math.exp(v - logSum));
}

/** Class indices by descending probability; equal ones keep the lower index first (stable sort). */
export function order(probs) {
  return Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]);
}

/** Each rank's score, best first: the r largest probabilities summed plus the RAPS penalty. */
export function rankScores(probs, constants) {
  const lam = constants.lam || 0;
  const kReg = constants.k_reg || 0;
  let cumulative = 0.0;
  return order(probs).map((cls, r) => {
    cumulative += probs[cls];
    return cumulative + lam * Math.max(0, r + 1 - kReg);
  });
}

/** conformal.prediction_sets with u = 1: per level, the labels of the set, most likely first. */
export function predictionSets(probs, constants, labels) {
  if (constants.randomized) {
    // A randomised set depends on a random draw per photo: never reproducible on a device.
    throw new Error('randomised conformal sets are not supported in the browser');
  }
  const ranked = order(probs);
  const scores = rankScores(probs, constants);
  const sets = {};
  for (const [level, threshold] of Object.entries(constants.thresholds)) {
    const size = threshold === null ? ranked.length
      : Math.max(1, scores.filter((s) => s <= threshold + SCORE_TOLERANCE).length);
    sets[level] = ranked.slice(0, size).map((i) => labels[i]);
  }
  return sets;
}

/** conformal.year_half_width: the predicted group's q when known and not null, else the global one. */
function yearHalfWidth(level, constants, group) {
  const groupQ = ((constants.q_by_predicted_collection || {})[group] || {})[level];
  return groupQ !== null && groupQ !== undefined ? groupQ : constants.q[level];
}

function yearAnswer(meta, yearNorm, topLabel) {
  const estimate = yearNorm * meta.year.scale + meta.year.mean;
  const constants = (meta.calibration || {}).year;
  if (!constants) return { estimate, interval: null };
  const interval = {};
  for (const level of Object.keys(constants.q)) {
    const q = yearHalfWidth(level, constants, topLabel);
    interval[level] = q === null || q === undefined ? null : [estimate - q, estimate + q];
  }
  return { estimate, interval };
}

/** Epoch models: sets over collections from the class probabilities summed per collection. */
function collectionSet(meta, probs) {
  const constants = (meta.calibration || {}).collections;
  if (meta.target !== 'epoch' || !constants || !meta.epochs.length) return null;
  const owner = Object.fromEntries(meta.epochs.map((e) => [e.label, meta.collections.indexOf(e.collection)]));
  const summed = new Array(meta.collections.length).fill(0);
  meta.labels.forEach((label, i) => { summed[owner[label]] += probs[i]; }); // np.bincount's order
  return predictionSets(summed, constants, meta.collections);
}

/**
 * Python's format(x, '.Nf') for the warning text: the exact binary value rounded half to even.
 * toFixed also rounds the exact value but sends exact ties up, so ties are settled here.
 */
export function fixed(value, decimals) {
  const exact = value.toFixed(Math.min(100, decimals + 60)); // every digit of these magnitudes' binary value
  const cut = exact.indexOf('.') + (decimals === 0 ? 0 : decimals + 1);
  if (!/^5(0*)$/.test(exact.slice(cut).replace('.', ''))) return value.toFixed(decimals);
  const kept = exact.slice(0, cut).replace(/\.$/, '');
  const lastDigit = Number(kept[kept.length - 1]);
  return lastDigit % 2 === 0 ? kept : value.toFixed(decimals); // even stays (down), odd goes up
}

function warnings(meta, index, verdict) {
  const notes = [];
  if (verdict && verdict.unlike_references) {
    notes.push(`unlike any reference object (${verdict.score_name} score ${fixed(verdict.score, 3)} > threshold `
      + `${fixed(verdict.threshold, 3)}, which ${fixed(verdict.false_alarm_rate * 100, 0)}% of known objects exceed): `
      + 'the labels below are unreliable');
  }
  if (!meta.calibration) {
    notes.push('no calibration constants: prediction sets and year intervals are missing (run `mocar calibrate`)');
  }
  if (index && !meta.fingerprint) {
    notes.push('the model file carries no fingerprint: cannot verify that the index was built with this model');
  }
  if (!index) notes.push('no reference index: no look-alike objects (build one with `mocar index build`)');
  return notes;
}

/** Look-alikes (rank, record, similarity, thumbnail) and the OOD verdict. */
function lookup(index, embedding, k, logits, thumbnail) {
  const ood = index.meta.ood || null;
  const depth = Math.max(k, (ood && ood.k) || 1);
  const found = index.search(embedding, depth);
  const nearest = found.rows.slice(0, k).map((row, r) => ({
    rank: r + 1, ...index.objectRecord(row), similarity: found.similarities[r], thumbnail: thumbnail(row),
  }));
  return { nearest, verdict: ood ? oodVerdict(ood, logits, found.similarities) : null };
}

/**
 * The answer for one photo, shaped like `mocar predict`'s JSON.
 *
 * @param {{logits: Float32Array, year?: Float32Array, embedding?: Float32Array}} outputs
 * @param {import('./metadata.js').ModelMetadata} meta
 * @param {import('./reference_index.js').ReferenceIndex|null} index
 * @param {{k?: number, file?: string, model?: string, thumbnail?: (row: number) => string|null}} options
 *   thumbnail: a reference's thumbnail as predict writes it (a data: URL), or null (the default: none)
 */
export function answer(outputs, meta, index, { k = 5, file = '', model = '', thumbnail = () => null } = {}) {
  const { logits } = outputs;
  const labels = meta.labels;
  if (!logits || logits.length !== labels.length) {
    throw new Error(`need 'logits' with ${labels.length} values (one per label), got ${logits ? logits.length : 'none'}`);
  }
  if (index) index.checkModel(meta.fingerprint);
  const probs = softmax(logits);
  const top = order(probs).slice(0, TOP_K);
  const classConstants = (meta.calibration || {}).classes;
  const year = outputs.year && meta.year ? yearAnswer(meta, outputs.year[0], labels[top[0]]) : null;
  if (index && !outputs.embedding) throw new Error("a reference search needs the model's 'embedding' output");
  const found = index ? lookup(index, outputs.embedding, k, logits, thumbnail) : { nearest: [], verdict: null };
  return {
    schema: PREDICTION_SCHEMA,
    schema_version: 1,
    file,
    target: meta.target,
    model,
    top5: top.map((i) => ({ label: labels[i], probability: probs[i] })),
    prediction_set: classConstants ? predictionSets(probs, classConstants, labels) : null,
    collection_set: collectionSet(meta, probs),
    year,
    nearest: found.nearest,
    ood: found.verdict,
    warnings: warnings(meta, index, found.verdict),
  };
}

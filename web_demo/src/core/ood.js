// "Unlike anything in the reference collection": the scores and verdict of mocar/field/ood.py (mirrors
// the Android core's Ood.java). Higher scores are more unusual; a photo is flagged when its score
// exceeds the threshold calibrated for the index record's default false-alarm rate.

import { pairwiseSum } from './numpy_sum.js';

export function knnScore(similarities, k) {
  if (!similarities || similarities.length < k) {
    throw new Error(`the knn score needs the top ${k} similarities; got ${similarities ? similarities.length : 0}`);
  }
  return 1.0 - pairwiseSum(Array.from(similarities.slice(0, k))) / k;
}

function shiftedExps(logits) {
  const peak = Math.max(...logits);
  return { peak, exps: Array.from(logits, (v) => Math.exp(v - peak)) };
}

export function energyScore(logits) {
  const { peak, exps } = shiftedExps(logits);
  return -(peak + Math.log(pairwiseSum(exps)));
}

export function mspScore(logits) {
  const { exps } = shiftedExps(logits);
  return 1.0 - Math.max(...exps) / pairwiseSum(exps);
}

/**
 * ood.ood_verdict: `{score_name, score, threshold, false_alarm_rate, unlike_references}`, or null
 * when the record has no threshold at its default rate.
 */
export function oodVerdict(record, logits, similarities) {
  const rate = record.default_rate;
  const threshold = record.thresholds[rate];
  if (threshold === null || threshold === undefined) return null;
  const scores = {
    knn: () => knnScore(similarities, record.k),
    energy: () => energyScore(logits),
    msp: () => mspScore(logits),
  };
  if (!scores[record.score]) throw new Error(`OOD score '${record.score}': expected knn, energy or msp`);
  const score = scores[record.score]();
  return {
    score_name: record.score === 'knn' ? `knn${record.k}` : record.score,
    score,
    threshold,
    false_alarm_rate: Number(rate),
    unlike_references: score > threshold,
  };
}

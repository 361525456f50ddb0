// The bundled reference index (folder reference_index/ written by mocar.mobile.android_assets, the
// same files the Android app ships) and the exact search of mocar/field/search.py (mirrors the
// Android core's ReferenceIndex.java):
// normalise the embedding, project with the PCA components, score every reference on its codes
// (sum code * (scale * y) + sum offset * y — never a dequantised copy, so memory stays at the files'
// size), keep the k largest with ties to the lower row; with rerank codes, keep rerank_candidates
// instead and score those again on their full-dimension codes. Dot products are summed in double, as
// the Java core does; float32 results are rounded with Math.fround where Python has float32.

export const LAYOUT_SCHEMA = 'mocar-android-index';
const ITEM_SIZE = { int8: 1, float16: 2, float32: 4 };

/** IEEE half-float bits to a number (exact). */
export function halfToFloat(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** One little-endian array file listed in layout.json, as a typed array of exact float values. */
function readArray(arrays, key, buffers) {
  const entry = arrays[key];
  if (!entry) return null;
  if (!entry.file || !entry.dtype || !Array.isArray(entry.shape)) {
    throw new Error(`layout.json: arrays.${key} needs 'file', 'dtype' and 'shape'`);
  }
  const size = ITEM_SIZE[entry.dtype];
  if (!size) throw new Error(`layout.json: arrays.${key} has dtype '${entry.dtype}'; expected int8, float16, float32`);
  const bytes = buffers[entry.file];
  const elements = entry.shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== elements * size) {
    throw new Error(`${entry.file} has ${bytes.byteLength} bytes; layout.json says ${entry.dtype} `
      + `[${entry.shape}] = ${elements * size} bytes`);
  }
  const view = new DataView(bytes);
  const values = new Float32Array(elements); // int8 and float16 convert exactly
  for (let i = 0; i < elements; i++) {
    values[i] = entry.dtype === 'int8' ? view.getInt8(i)
      : entry.dtype === 'float16' ? halfToFloat(view.getUint16(2 * i, true)) : view.getFloat32(4 * i, true);
  }
  return { values, shape: entry.shape };
}

/** Codes [count, dims] with per-dimension scales and offsets (search.py step 3). */
class Codes {
  constructor(codes, scales, offsets, name) {
    if (codes.shape.length !== 2) throw new Error(`layout.json: '${name}' must be a 2-D array`);
    [this.count, this.dims] = codes.shape;
    for (const vector of [scales, offsets]) {
      if (vector && (vector.shape.length !== 1 || vector.shape[0] !== this.dims)) {
        throw new Error(`layout.json: the scales/offsets of '${name}' must have shape [${this.dims}]`);
      }
    }
    this.codes = codes.values;
    this.scales = scales && scales.values;
    this.offsets = offsets && offsets.values;
  }

  /** Similarities of `rows` (null: every row) to `query`: sum code * w + b without dequantising (step 4). */
  score(rows, query) {
    const weights = new Float32Array(this.dims);
    let bias = 0.0;
    for (let j = 0; j < this.dims; j++) {
      weights[j] = this.scales ? this.scales[j] * query[j] : query[j]; // Float32Array rounds like float32
      bias += this.offsets ? this.offsets[j] * query[j] : 0.0;
    }
    const n = rows ? rows.length : this.count;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const start = (rows ? rows[i] : i) * this.dims;
      let sum = 0.0;
      for (let j = 0; j < this.dims; j++) sum += this.codes[start + j] * weights[j];
      out[i] = Math.fround(sum) + Math.fround(bias);
    }
    return out;
  }
}

/** Step 5: the k largest, best first, equal similarities to the lower row. */
export function topK(similarities, k) {
  const rows = [];
  const best = [];
  for (let row = 0; row < similarities.length; row++) {
    const s = similarities[row];
    if (rows.length === k && !(s > best[k - 1])) continue; // an equal one has a higher row: stays out
    let at = rows.length === k ? k - 1 : rows.length;
    if (at === rows.length) { rows.push(0); best.push(0); }
    while (at > 0 && s > best[at - 1]) { // strictly greater: earlier rows win ties
      best[at] = best[at - 1];
      rows[at] = rows[at - 1];
      at--;
    }
    best[at] = s;
    rows[at] = row;
  }
  return { rows, similarities: Float32Array.from(best) };
}

/** Step 1: e / max(||e||, 1e-12) in float32 (squares summed in double). */
export function normalizeEmbedding(embedding) {
  let squares = 0.0;
  for (const v of embedding) squares += v * v;
  const norm = Math.max(Math.fround(Math.sqrt(squares)), Math.fround(1e-12));
  return Float32Array.from(embedding, (v) => v / norm);
}

export class ReferenceIndex {
  /**
   * Loads an index folder through a reader (fetch in the browser, the file system in tests).
   *
   * @param {(name: string) => Promise<ArrayBuffer>} read returns the bytes of a file of the folder
   */
  static async load(read) {
    const text = async (name) => new TextDecoder().decode(await read(name));
    const layout = JSON.parse(await text('layout.json'));
    if (layout.schema !== LAYOUT_SCHEMA) {
      throw new Error(`layout.json: schema '${layout.schema}', expected '${LAYOUT_SCHEMA}'; convert the index `
        + 'with `mocar web build` or `mocar export --android-assets`');
    }
    const buffers = {};
    await Promise.all(Object.values(layout.arrays).map(async (entry) => { buffers[entry.file] = await read(entry.file); }));
    const meta = JSON.parse(await text(layout.index));
    const objects = JSON.parse(await text(layout.objects));
    const thumbnails = layout.thumbnails ? new Uint8Array(await read(layout.thumbnails)) : null;
    return new ReferenceIndex(layout, buffers, meta, objects, thumbnails);
  }

  constructor(layout, buffers, meta, objects, thumbnails) {
    const arrays = layout.arrays;
    const array = (key) => readArray(arrays, key, buffers);
    if (!arrays.codes) throw new Error("layout.json: no 'codes' array");
    this.codes = new Codes(array('codes'), array('scales'), array('offsets'), 'codes');
    this.components = array('components');
    this.sourceDims = this.components ? this.components.shape[1] : this.codes.dims;
    if (this.components && this.components.shape[0] !== this.codes.dims) {
      throw new Error(`components.bin has ${this.components.shape[0]} rows, codes have ${this.codes.dims}`);
    }
    this.rerank = arrays.rerank ? new Codes(array('rerank'), array('rerank_scales'), array('rerank_offsets'), 'rerank') : null;
    this.rerankCandidates = layout.rerank_candidates || 0;
    if (this.rerank && (this.rerank.count !== this.codes.count || this.rerank.dims !== this.sourceDims
        || this.rerankCandidates < 1)) {
      throw new Error(`rerank.bin has shape [${this.rerank.count}, ${this.rerank.dims}] and rerank_candidates `
        + `${this.rerankCandidates}; expected [${this.codes.count}, ${this.sourceDims}] and >= 1`);
    }
    if (objects.length !== this.codes.count) {
      throw new Error(`${layout.objects} has ${objects.length} records for ${this.codes.count} references`);
    }
    this.meta = meta;
    this.objects = objects;
    this.thumbnails = thumbnails;
  }

  get size() { return this.codes.count; }

  get fingerprint() { return (this.meta.model || {}).fingerprint || null; }

  /** Throws unless the index was built with the model of this fingerprint (ReferenceIndex.check_model). */
  checkModel(modelFingerprint) {
    if (modelFingerprint && modelFingerprint !== this.fingerprint) {
      throw new Error(`reference index was built with model ${this.fingerprint} but the model file is `
        + `${modelFingerprint}; bundle the index of this model`);
    }
  }

  /** Step 2: y = components @ q (no centring, no re-normalisation). */
  project(normalized) {
    if (!this.components) return normalized;
    const out = new Float32Array(this.codes.dims);
    for (let j = 0; j < out.length; j++) {
      let sum = 0.0;
      for (let i = 0; i < this.sourceDims; i++) sum += this.components.values[j * this.sourceDims + i] * normalized[i];
      out[j] = sum;
    }
    return out;
  }

  /** The k references most similar to a raw model embedding: {rows, similarities}, best first. */
  search(embedding, k) {
    if (embedding.length !== this.sourceDims) {
      throw new Error(`embedding has ${embedding.length} values; this index takes ${this.sourceDims}`);
    }
    if (!(k >= 1) || this.size === 0) throw new Error(`k=${k}: need k >= 1 and a non-empty index`);
    const normalized = normalizeEmbedding(embedding);
    const similarities = this.codes.score(null, this.project(normalized));
    if (!this.rerank) return topK(similarities, Math.min(k, this.size));
    const candidates = topK(similarities, Math.min(Math.max(k, this.rerankCandidates), this.size)).rows
      .sort((a, b) => a - b); // ascending rows: topK then keeps ties at the lower row
    const best = topK(this.rerank.score(candidates, normalized), Math.min(k, candidates.length));
    return { rows: best.rows.map((i) => candidates[i]), similarities: best.similarities };
  }

  /** Catalogue record of a reference, as ReferenceIndex.object_record (no thumbnail offsets). */
  objectRecord(row) {
    const { thumb_offset: _offset, thumb_size: _size, ...record } = this.objects[row];
    return record;
  }

  /** JPEG bytes of a reference's thumbnail, or null. */
  thumbnail(row) {
    const { thumb_offset: offset, thumb_size: size } = this.objects[row];
    return this.thumbnails && size > 0 ? this.thumbnails.subarray(offset, offset + size) : null;
  }
}

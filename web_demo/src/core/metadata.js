// The preprocessing and answer contract a mocar model file carries (schema mocar-export-metadata),
// read the way mocar/field/inference.py:from_file and the Android core's ModelMetadata read it.
// Nothing model-specific lives in the JS: size, mean/std, resize rule, labels, year scale and the
// conformal constants all come from here.

export const METADATA_SCHEMA = 'mocar-export-metadata';

export class ModelMetadata {
  /** @param {object} raw the file's metadata (JSON as `mocar.runtime.metadata.read_metadata` returns it) */
  constructor(raw, where = 'model metadata') {
    if (!raw || raw.schema !== METADATA_SCHEMA) {
      throw new Error(`${where}: schema '${raw && raw.schema}', expected '${METADATA_SCHEMA}'`);
    }
    for (const key of ['input', 'labels']) {
      if (!raw[key]) throw new Error(`${where}: no '${key}' block (export with mocar export)`);
    }
    if (!(raw.labels.names || []).length) throw new Error(`${where}: no labels.names`);
    this.raw = raw;
    this.input = raw.input;
  }

  /** `NCHW` (ONNX) or `NHWC` (TFLite). */
  get layout() { return this.input.layout || 'NCHW'; }

  /** Side of the square input image, from the input shape and layout. */
  get inputSize() { return this.input.shape[this.layout === 'NCHW' ? 2 : 1]; }

  /** Mean and std as float32, like numpy's np.asarray(mean, np.float32). */
  get mean() { return Float32Array.from(this.input.mean); }
  get std() { return Float32Array.from(this.input.std); }

  get interpolation() { return (this.input.resize && this.input.resize.interpolation) || 'bilinear'; }
  get inputName() { return this.input.name || 'image'; }
  get labels() { return this.raw.labels.names; }
  get target() { return this.raw.labels.target || 'collection'; }
  get collections() { return this.raw.labels.collections || []; }
  get epochs() { return this.raw.labels.epochs || []; }
  get year() { return this.raw.year || null; }
  get calibration() { return this.raw.calibration || null; }
  get fingerprint() { return (this.raw.model || {}).fingerprint || null; }
  get outputNames() { return (this.raw.outputs || []).map((o) => o.name); }
  /** The answer's `model` field: the file's source (as FieldModel.source: the file name on the phone). */
  get precision() { return this.raw.precision || null; }
}

// Reads the golden folders that mocar.mobile.golden.write_golden writes (golden.json + raw
// little-endian arrays). The pytest wrapper (tests/test_web_demo.py) passes their paths in
// MOCAR_GOLDEN_DIRS (separated by the platform's path delimiter).

import { readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

import { ReferenceIndex } from '../src/core/reference_index.js';

const TYPED = { uint8: Uint8Array, int8: Int8Array, float32: Float32Array };

export const goldenDirs = (process.env.MOCAR_GOLDEN_DIRS || '').split(delimiter).filter(Boolean);
export const skipReason = goldenDirs.length ? false
  : 'no golden folders: set MOCAR_GOLDEN_DIRS (tests/test_web_demo.py writes them with mocar.mobile.golden)';

export class GoldenFolder {
  constructor(dir) {
    this.dir = dir;
    this.json = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
  }

  get name() { return this.json.model_file; }

  /** An array record {file, dtype, shape} as its typed array. */
  array(record) {
    const bytes = readFileSync(join(this.dir, record.file));
    const Type = TYPED[record.dtype];
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    return new Type(copy); // little-endian files on little-endian machines (every JS engine mocar targets)
  }

  /** A HWC uint8 array record as {width, height, rgb}. */
  image(record) {
    return { width: record.shape[1], height: record.shape[0], rgb: this.array(record) };
  }

  async index() {
    if (!this.json.reference_index) return null;
    const folder = join(this.dir, this.json.reference_index);
    return ReferenceIndex.load(async (name) => {
      const bytes = readFileSync(join(folder, name));
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    });
  }
}

export const folders = () => goldenDirs.map((dir) => new GoldenFolder(dir));

// Pillow's Image.resize for 8-bit RGB images (bilinear and bicubic), bit for bit.
//
// Why exactly: the model was trained and benchmarked on images resized by Pillow, and the browser must
// feed it the same tensor. This mirrors the Android core (android_demo/core PillowResample.java), which
// documents the algorithm: separable convolution with an antialiasing filter, 22-bit fixed-point
// weights, a horizontal pass over only the rows the vertical pass reads, then the vertical pass. Every
// integer step fits in int32 and every float step is a double, as in C, so JS numbers give the same
// results. Pass order follows Pillow 13.0.0 as released (vertical first when the height shrinks by more
// than twice as many pixels as the width does); the golden checks cover both orders.

const PRECISION_BITS = 32 - 8 - 2;

/** Pillow's filters for the interpolations mocar allows (nearest is not resampled this way). */
const FILTERS = {
  bilinear: {
    support: 1.0,
    weight: (x) => {
      const d = Math.abs(x);
      return d < 1.0 ? 1.0 - d : 0.0;
    },
  },
  bicubic: {
    support: 2.0,
    weight: (x) => {
      const a = -0.5; // Pillow's bicubic (Keys, a = -0.5)
      const d = Math.abs(x);
      if (d < 1.0) return ((a + 2.0) * d - (a + 3.0)) * d * d + 1;
      if (d < 2.0) return (((d - 5) * d + 8) * d - 4) * a;
      return 0.0;
    },
  },
};

function filterNamed(interpolation) {
  const filter = FILTERS[interpolation];
  if (!filter) {
    throw new Error(`interpolation '${interpolation}' is not supported in the browser; valid: ${Object.keys(FILTERS).join(', ')}`);
  }
  return filter;
}

/** C's (int) cast: truncation toward zero. */
const truncate = (x) => (x < 0 ? Math.ceil(x) : Math.floor(x));

function toFixedPoint(weight) {
  const scaled = weight * (1 << PRECISION_BITS);
  return truncate(weight < 0 ? scaled - 0.5 : scaled + 0.5);
}

function clip8(accumulator) {
  const value = accumulator >> PRECISION_BITS; // arithmetic shift on int32, like C's on int
  return value < 0 ? 0 : Math.min(value, 255);
}

/** Filter taps of one axis (Pillow's precompute_coeffs + normalize_coeffs_8bpc). */
function taps(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1.0);
  const support = filter.support * filterScale;
  const reciprocal = 1.0 / filterScale; // Pillow multiplies by 1/scale: dividing could differ in the last bit
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    const xmin = Math.max(0, truncate(center - support + 0.5));
    const xmax = Math.min(inSize, truncate(center + support + 0.5)) - xmin;
    let total = 0.0;
    for (let x = 0; x < xmax; x++) {
      w[x] = filter.weight((x + xmin - center + 0.5) * reciprocal);
      total += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      weights[out * ksize + x] = toFixedPoint(total !== 0.0 ? w[x] / total : w[x]);
    }
    first[out] = xmin;
    count[out] = xmax;
  }
  return { first, count, weights, ksize };
}

function horizontal(src, t, firstRow, rows) {
  const outWidth = t.first.length;
  const out = new Uint8Array(outWidth * rows * 3);
  for (let y = 0; y < rows; y++) {
    const rowStart = (y + firstRow) * src.width * 3;
    for (let x = 0; x < outWidth; x++) {
      const base = x * t.ksize;
      for (let c = 0; c < 3; c++) {
        let sum = 1 << (PRECISION_BITS - 1);
        for (let k = 0; k < t.count[x]; k++) {
          sum = (sum + src.rgb[rowStart + (t.first[x] + k) * 3 + c] * t.weights[base + k]) | 0;
        }
        out[(y * outWidth + x) * 3 + c] = clip8(sum);
      }
    }
  }
  return { width: outWidth, height: rows, rgb: out };
}

function vertical(src, t, rowOffset) {
  const width = src.width;
  const outHeight = t.first.length;
  const out = new Uint8Array(width * outHeight * 3);
  for (let y = 0; y < outHeight; y++) {
    const base = y * t.ksize;
    const top = t.first[y] - rowOffset;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 1 << (PRECISION_BITS - 1);
        for (let k = 0; k < t.count[y]; k++) {
          sum = (sum + src.rgb[((top + k) * width + x) * 3 + c] * t.weights[base + k]) | 0;
        }
        out[(y * width + x) * 3 + c] = clip8(sum);
      }
    }
  }
  return { width, height: outHeight, rgb: out };
}

/**
 * Resizes an RGB image ({width, height, rgb: Uint8Array HWC}) like Pillow's
 * `Image.resize((width, height), filter)`.
 */
export function resize(src, width, height, interpolation) {
  if (!(width >= 1 && height >= 1)) throw new Error(`resize target ${width}x${height} must be at least 1x1`);
  const filter = filterNamed(interpolation);
  if (width === src.width && height === src.height) {
    return { width, height, rgb: src.rgb.slice() }; // Pillow returns a copy
  }
  const verticalFirst = height < src.height && width !== src.width
    && src.height - height > 2 * (src.width - width);
  if (verticalFirst) {
    const shorter = vertical(src, taps(src.height, height, filter), 0);
    return horizontal(shorter, taps(src.width, width, filter), 0, height);
  }
  const v = taps(src.height, height, filter);
  const firstRow = v.first[0];
  const lastRow = v.first[height - 1] + v.count[height - 1];
  let image = src;
  let rowOffset = 0;
  if (width !== src.width) {
    image = horizontal(src, taps(src.width, width, filter), firstRow, lastRow - firstRow);
    rowOffset = firstRow; // the temporary image starts at the first row the vertical pass reads
  }
  if (height !== src.height) image = vertical(image, v, rowOffset);
  return image;
}

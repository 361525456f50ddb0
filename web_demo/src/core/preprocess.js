// Photo to model input, exactly as mocar.data.transforms.eval_transform does it (mirrors the Android
// core's Preprocessor): resize the whole decoded RGB image to size x size with Pillow's rule (aspect
// ratio not kept, no crop), then (pixel / 255 - mean) / std per channel in float32. Math.fround after
// each double operation gives the float32 result exactly (a double holds enough bits for +, -, *, /
// to round once), so the tensor is bit-identical to Python's.

import { resize } from './pillow_resize.js';

/** (pixel / 255 - mean) / std in float32, laid out as the file's input (NCHW or NHWC). */
export function normalize(image, mean, std, layout) {
  if (mean.length !== 3 || std.length !== 3) {
    throw new Error(`mean/std need 3 channels, got ${mean.length}/${std.length}`);
  }
  const pixels = image.width * image.height;
  const out = new Float32Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) {
      const scaled = Math.fround(image.rgb[p * 3 + c] / 255);
      const value = Math.fround(Math.fround(scaled - mean[c]) / std[c]);
      out[layout === 'NCHW' ? c * pixels + p : p * 3 + c] = value;
    }
  }
  return out;
}

/** The float32 input tensor (batch 1, flattened) of a decoded RGB image for a model's metadata. */
export function toTensor(image, meta) {
  const size = meta.inputSize;
  return normalize(resize(image, size, size, meta.interpolation), meta.mean, meta.std, meta.layout);
}

/**
 * One channel of Pillow's alpha_composite(white, pixel) (AlphaComposite.c): 7-bit fixed-point blend
 * weights and a rounded division by 255 — what mocar.data.images.to_rgb does with an RGBA file.
 */
export function overWhite(value, alpha) {
  if (alpha === 0) return 255;
  const precisionBits = 7;
  const outAlpha255 = alpha * 255 + 255 * (255 - alpha);
  const coef1 = Math.trunc((alpha * 255 * 255 * (1 << precisionBits)) / outAlpha255);
  const coef2 = 255 * (1 << precisionBits) - coef1;
  const blended = value * coef1 + 255 * coef2 + (0x80 << precisionBits);
  return (((blended >> 8) + blended) >> 8) >> precisionBits;
}

/** RGB image from RGBA bytes (canvas ImageData order); transparent pixels composited on white. */
export function fromRgba(width, height, rgba) {
  if (rgba.length !== width * height * 4) {
    throw new Error(`RGBA ${width}x${height} needs ${width * height * 4} bytes, got ${rgba.length}`);
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const alpha = rgba[p * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const value = rgba[p * 4 + c];
      rgb[p * 3 + c] = alpha === 255 ? value : overWhite(value, alpha);
    }
  }
  return { width, height, rgb };
}

/** A float32 NHWC tensor (the golden vectors' layout) as NCHW (the ONNX files' layout), square images. */
export function nhwcToNchw(values, size) {
  const pixels = size * size;
  const out = new Float32Array(values.length);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < 3; c++) out[c * pixels + p] = values[p * 3 + c];
  return out;
}

// Output encodings of an embedding, as the Jina API packs them: float, base64 (little-endian
// float32 bytes, also OpenAI's encoding_format) and the binary kinds (one sign bit per dimension).

/** Every `embeddingType` accepted by embed() and the `serve` endpoint. */
export const EMBEDDING_TYPES = ['float', 'base64', 'binary', 'ubinary'];

/**
 * Bits of `v > 0`, eight dimensions per byte, the first dimension in the most significant bit
 * (numpy `packbits` order, which the Jina API and sentence-transformers use).
 * @param {Float32Array} v
 * @returns {Uint8Array}
 */
export function packSignBits(v) {
  const out = new Uint8Array(Math.ceil(v.length / 8));
  for (let i = 0; i < v.length; i++) {
    if (v[i] > 0) out[i >> 3] |= 0x80 >> (i & 7);
  }
  return out;
}

/** Base64 of bytes, in every runtime (Buffer where it exists, else btoa over binary chunks). */
export function bytesToBase64(bytes) {
  if (typeof Buffer === 'function') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * One embedding in the requested type: the Float32Array itself ('float'), base64 of its
 * little-endian float32 bytes ('base64'), packed sign bits as Uint8Array ('ubinary') or as
 * Int8Array shifted by −128 ('binary', what the Jina API returns as int8).
 * @param {Float32Array} v
 * @param {'float' | 'base64' | 'binary' | 'ubinary'} type
 */
export function encodeEmbedding(v, type) {
  switch (type) {
    case 'float': return v;
    case 'base64': {
      // Typed arrays use the platform's byte order; wasm and every JS engine here are little-endian,
      // but copy explicitly so the encoding never depends on it.
      const bytes = new Uint8Array(v.length * 4);
      const view = new DataView(bytes.buffer);
      for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i], true);
      return bytesToBase64(bytes);
    }
    case 'ubinary': return packSignBits(v);
    case 'binary': {
      const u = packSignBits(v);
      const s = new Int8Array(u.length);
      for (let i = 0; i < u.length; i++) s[i] = u[i] - 128;
      return s;
    }
    default: throw new TypeError(`unknown embedding type ${type}`);
  }
}

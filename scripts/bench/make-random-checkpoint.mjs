#!/usr/bin/env node
// Writes a random-weight checkpoint in the official jina-embeddings-v3 layout (config.json, BF16
// model.safetensors, tokenizer.json, tokenizer_config.json) at any size, by default the real one
// (24 layers, hidden 1024, vocab 250002): for load/speed/memory checks without the real weights.
// The tokenizer is the fixture's, padded with synthetic pieces up to the vocabulary size.
//   node scripts/bench/make-random-checkpoint.mjs <out-dir> [--layers 24] [--hidden 1024] [--heads 16]
//        [--ffn 4096] [--vocab 250002] [--fixture ../shared/fixtures/tiny-jina-v3]
import fs from 'node:fs';
import path from 'node:path';
import { requireFixtureDir } from '../lib/fixtures.mjs';

const args = process.argv.slice(2);
const out = args.find((a, i) => !a.startsWith('--') && !(args[i - 1] || '').startsWith('--'));
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
if (!out) {
  console.error('usage: make-random-checkpoint.mjs <out-dir> [--layers N] [--hidden D] [--heads H] [--ffn F] [--vocab V]');
  process.exit(2);
}
const L = +opt('layers', 24), d = +opt('hidden', 1024), H = +opt('heads', 16), ffn = +opt('ffn', 4096);
const V = +opt('vocab', 250002);
const fixture = path.resolve(opt('fixture', null) ?? requireFixtureDir());
fs.mkdirSync(out, { recursive: true });

const config = JSON.parse(fs.readFileSync(path.join(fixture, 'config.json'), 'utf8'));
Object.assign(config, {
  _name_or_path: 'random-jina-v3', hidden_size: d, num_attention_heads: H, num_hidden_layers: L,
  intermediate_size: ffn, vocab_size: V,
  matryoshka_dimensions: [32, 64, 128, 256, 512, 768, 1024].filter((x) => x <= d),
});
const T = config.lora_adaptations.length, r = config.lora_rank;
fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(config, null, 2));
fs.writeFileSync(path.join(out, 'tokenizer_config.json'), fs.readFileSync(path.join(fixture, 'tokenizer_config.json')));

// Tokenizer: keep the fixture's pieces, add "▁w<n>" pieces before <mask>, move <mask> to the last id.
const tok = JSON.parse(fs.readFileSync(path.join(fixture, 'tokenizer.json'), 'utf8'));
const vocab = tok.model.vocab;
const mask = vocab.pop();
for (let i = 0; vocab.length < V - 1; i++) vocab.push([`\u2581w${i}`, -20 - i * 1e-6]);
vocab.push(mask);
for (const t of tok.added_tokens) if (t.content === mask[0]) t.id = V - 1;
fs.writeFileSync(path.join(out, 'tokenizer.json'), JSON.stringify(tok));

// Tensors: name -> shape, in the checkpoint's naming.
const tensors = [];
const add = (name, shape, scale) => tensors.push({ name, shape, scale });
const lin = (name, inF, outF) => {
  add(`roberta.${name}.bias`, [outF], 0.02);
  add(`roberta.${name}.parametrizations.weight.original`, [outF, inF], 0.05);
  add(`roberta.${name}.parametrizations.weight.0.lora_A`, [T, r, inF], 0.16);
  add(`roberta.${name}.parametrizations.weight.0.lora_B`, [T, outF, r], 0.16);
};
const emb = (name, rows) => {
  add(`roberta.embeddings.${name}.parametrizations.weight.original`, [rows, d], 0.05);
  add(`roberta.embeddings.${name}.parametrizations.weight.0.lora_A`, [T, rows, r], 0.16);
  add(`roberta.embeddings.${name}.parametrizations.weight.0.lora_B`, [T, r, d], 0.16);
};
const ln = (name) => {
  add(`roberta.${name}.weight`, [d], 0.1);
  add(`roberta.${name}.bias`, [d], 0.02);
};
emb('word_embeddings', V);
emb('token_type_embeddings', 1);
ln('emb_ln');
for (let l = 0; l < L; l++) {
  const p = `encoder.layers.${l}.`;
  lin(p + 'mixer.Wqkv', d, 3 * d);
  lin(p + 'mixer.out_proj', d, d);
  lin(p + 'mlp.fc1', d, ffn);
  lin(p + 'mlp.fc2', ffn, d);
  ln(p + 'norm1');
  ln(p + 'norm2');
}
lin('pooler.dense', d, d);

const header = { __metadata__: { format: 'pt' } };
let offset = 0;
for (const t of tensors) {
  t.bytes = 2 * t.shape.reduce((a, b) => a * b, 1);
  header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + t.bytes] };
  offset += t.bytes;
}
let hjson = JSON.stringify(header);
hjson += ' '.repeat((8 - (hjson.length % 8)) % 8);
const fd = fs.openSync(path.join(out, 'model.safetensors'), 'w');
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(hjson.length));
fs.writeSync(fd, len);
fs.writeSync(fd, hjson);

// Uniform values in [-scale·√3, scale·√3] (std = scale), as BF16, from a xorshift generator.
let s = 0x9e3779b9 >>> 0;
const chunk = new Uint16Array(1 << 20);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
for (const t of tensors) {
  let left = t.bytes / 2;
  const a = t.scale * Math.sqrt(3);
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    for (let i = 0; i < n; i++) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      f32[0] = (s / 4294967296 * 2 - 1) * a;
      chunk[i] = u32[0] >>> 16;
    }
    fs.writeSync(fd, new Uint8Array(chunk.buffer, 0, n * 2));
    left -= n;
  }
}
fs.closeSync(fd);
console.log(`wrote ${out}: ${tensors.length} tensors, ${(offset / 2 ** 20).toFixed(0)} MiB of BF16 weights`);

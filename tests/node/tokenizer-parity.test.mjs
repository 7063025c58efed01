// Tokenizer parity at scale: our token ids (the wasm module, through JinaEmbeddings.tokenize) must equal
// Hugging Face's Rust tokenizers (npm `tokenizers`) on the fixture's tokenizer.json for >= 10,000
// generated strings per run: mixed scripts, combining marks, emoji and ZWJ sequences, control chars,
// lone surrogates, runs of spaces, literal special tokens. Every difference is saved to
// tests/node/tokenizer-parity/failures.json, and every saved case is replayed on each run.
// JV3_PARITY_SEED reproduces a run; JV3_PARITY_COUNT changes the number of strings.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Tokenizer } from 'tokenizers';
import { fixtureDir, loadModel, repoRoot } from '../helpers.mjs';

const failuresFile = path.join(repoRoot, 'tests', 'tokenizer-parity', 'failures.json');
const count = Number(process.env.JV3_PARITY_COUNT) || 10000;
const seed = Number(process.env.JV3_PARITY_SEED) || (Date.now() % 2 ** 31);

let model;
let hf;
before(async () => {
  model = await loadModel('int8');
  hf = Tokenizer.fromFile(path.join(fixtureDir, 'tokenizer.json'));
});
after(() => model?.dispose());

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
function prng(s) {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Generator of hostile-but-realistic strings built from typed segments. */
function makeGenerator(rand, vocab) {
  const int = (n) => Math.floor(rand() * n);
  const pick = (a) => a[int(a.length)];
  const cp = (lo, hi) => String.fromCodePoint(lo + int(hi - lo + 1));
  const run = (f, max) => Array.from({ length: 1 + int(max) }, f).join('');
  const scripts = [
    [0x41, 0x7a], [0xc0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x530, 0x58f], [0x5d0, 0x5ea], [0x600, 0x6ff],
    [0x900, 0x97f], [0x980, 0x9ff], [0xe00, 0xe7f], [0x10a0, 0x10ff], [0x1100, 0x11ff], [0x3040, 0x30ff],
    [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xff00, 0xffef], [0x2000, 0x206f], [0x2100, 0x214f], [0x2460, 0x24ff],
    [0x3300, 0x33ff], [0xfb00, 0xfb4f], [0x1d400, 0x1d7ff], [0x20000, 0x2a6df],
  ];
  const emoji = ['\u{1F600}', '\u{1F44D}', '\u{1F3FD}', '\u2764', '\uFE0F', '\u{1F1E9}\u{1F1EA}', '\u{1F1FA}', '\u{1F468}',
    '\u{1F469}', '\u{1F467}', '\u200D', '\u{1F3F3}', '\u{1F308}', '\u{E0067}', '\u{1F9D1}\u200D\u{1F4BB}', '#\uFE0F\u20E3'];
  const controls = ['\t', '\n', '\r', '\r\n', '\0', '\x01', '\x1b', '\x7f', '\x85', '\u00a0', '\u1680', '\u2000', '\u2007',
    '\u200b', '\u200c', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', '\ufffd', '\ufff9'];
  const specials = ['<s>', '</s>', '<pad>', '<unk>', '<mask>', ' <mask>', '<mask> ', '<s', 's>', '</s', '<<mask>>', '<MASK>'];
  const segments = [
    () => run(() => { const [lo, hi] = pick(scripts); return cp(lo, hi); }, 12),
    () => pick(vocab).replace(/\u2581/g, rand() < 0.7 ? ' ' : ''),
    () => run(() => pick(vocab).replace(/\u2581/g, ' '), 6),
    () => cp(0x61, 0x7a) + run(() => cp(0x300, 0x36f), 4),  // combining marks
    () => run(() => cp(0x1100, 0x1112), 2) + run(() => cp(0x1161, 0x1175), 2),  // conjoining jamo
    () => run(() => pick(emoji), 8),
    () => run(() => pick(controls), 4),
    () => pick(['\ud800', '\udbff', '\udc00', '\udfff', 'a\ud83d', '\ude00b', '\ud83d\ud83d']),  // lone surrogates
    () => ' '.repeat(1 + int(rand() < 0.2 ? 300 : 6)),
    () => pick(specials),
    () => cp(0x20, 0x7e).repeat(1 + int(20)),
    () => String.fromCodePoint(int(0x110000)).replace(/[\ud800-\udfff]/g, 'x'),  // any code point
  ];
  return () => run(() => pick(segments)(), 10);
}

async function compare(texts) {
  const ours = await model.tokenize(texts);
  const theirs = await hf.encodeBatch(texts);
  const diffs = [];
  for (const [i, text] of texts.entries()) {
    const a = Array.from(ours[i]);
    const b = theirs[i].getIds();
    if (a.length !== b.length || a.some((x, k) => x !== b[k])) diffs.push({ text, ours: a, hf: b });
  }
  return diffs;
}

function readFailures() {
  return fs.existsSync(failuresFile) ? JSON.parse(fs.readFileSync(failuresFile, 'utf8')) : [];
}

test('saved parity failures stay fixed', async () => {
  const saved = readFailures();
  if (saved.length === 0) return;
  const diffs = await compare(saved.map((c) => c.text));
  assert.deepEqual(diffs.map((d) => d.text), [], `${diffs.length} saved case(s) differ from Hugging Face`);
});

test(`ids equal Hugging Face tokenizers on ${count} generated strings (seed ${seed})`, async () => {
  const vocab = JSON.parse(fs.readFileSync(path.join(fixtureDir, 'tokenizer.json'), 'utf8')).model.vocab.map((v) => v[0]);
  const gen = makeGenerator(prng(seed), vocab);
  const diffs = [];
  let compared = 0;
  for (let done = 0; done < count; done += 500) {
    const batch = Array.from({ length: Math.min(500, count - done) }, gen);
    diffs.push(...(await compare(batch)));
    compared += batch.length;
  }
  if (diffs.length) {
    const saved = readFailures();
    const known = new Set(saved.map((c) => c.text));
    for (const d of diffs) if (!known.has(d.text)) saved.push({ seed, ...d });
    fs.mkdirSync(path.dirname(failuresFile), { recursive: true });
    fs.writeFileSync(failuresFile, JSON.stringify(saved, null, 1) + '\n');
  }
  assert.equal(compared, count);
  assert.equal(diffs.length, 0, `${diffs.length} of ${count} strings differ (seed ${seed}); saved to ${failuresFile}. ` +
    `First: ${JSON.stringify(diffs[0])}`);
});

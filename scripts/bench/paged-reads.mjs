#!/usr/bin/env node
// Paged memory: what the rows of a call cost when none is cached. Embeds texts of distinct words
// (so most tokens are new) and reports, per call, rows and bytes read, ranges asked for, reads
// made (after merging) and the wall time of those reads, next to the call's total time.
//   node scripts/bench/paged-reads.mjs -m model.jv3 [--tokens 16,128,512] [--threads 1]
import fs from 'node:fs';

import { JinaEmbeddings } from '../../js/index.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const file = opt('-m');
if (!file) {
  console.error('usage: paged-reads.mjs -m <model file> [--tokens 16,128,512] [--threads 1]');
  process.exit(2);
}
const handle = await fs.promises.open(file, 'r');
const { size } = await handle.stat();
let reads = 0, readMs = 0, inFlight = 0, since = 0;
// A file reader that counts reads and the wall time during which at least one was in flight.
const reader = {
  size,
  mergeGap: 4096,
  async read(offset, length) {
    if (inFlight++ === 0) since = performance.now();
    const buffer = new Uint8Array(length);
    await handle.read(buffer, 0, length, offset);
    if (--inFlight === 0) readMs += performance.now() - since;
    reads++;
    return buffer;
  },
};
const model = await JinaEmbeddings.load(reader, { threads: +opt('--threads', 1), memory: 'paged' });
console.log('tokens | rows read | bytes read | ranges | reads | read ms | call ms');
let word = 0;
for (const n of opt('--tokens', '16,128,512').split(',').map(Number)) {
  // Words not seen before: each call's rows are (mostly) not cached.
  let text = '';
  while ((await model.countTokens(text)) < n) text += ` w${(word += 7919) % 240000}`;
  const before = model.pageStats;
  const [r0, ms0] = [reads, readMs];
  const t = performance.now();
  const res = await model.embed(text);
  const callMs = performance.now() - t;
  const after = model.pageStats;
  console.log(`${res.usage.total_tokens} | ${after.rowsRead - before.rowsRead} | ${after.bytesRead - before.bytesRead} | ` +
    `${after.rangesRead - before.rangesRead} | ${reads - r0} | ${(readMs - ms0).toFixed(1)} | ${callMs.toFixed(0)}`);
}
await model.dispose();
await handle.close();

// Short CI version of scripts/bench/serve-load.mjs: 500 requests, 32 in flight, against `serve` on
// 127.0.0.1 with the fixture model; no request may fail, and the server's RSS may grow by < 16 MiB.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { runLoadTest } from '../../scripts/bench/serve-load.mjs';

/** Catches a leak of 32 KiB or more per request (10,000 requests measured +3.8 MiB). */
const MAX_RSS_GROWTH = 16 << 20;

test('serve: 500 requests, 32 concurrent, no failure and no memory growth', { skip: process.platform !== 'linux' && 'reads RSS from /proc' }, async () => {
  const r = await runLoadTest({ requests: 500, concurrency: 32, timeoutSeconds: 120, warmup: 100 });
  assert.equal(r.warmupFailures, 0, 'warm-up requests failed');
  assert.equal(r.failures, 0, `failures: ${JSON.stringify(r.errors)}, not sent ${r.notSent}`);
  assert.ok(r.rssGrowth < MAX_RSS_GROWTH, `server RSS grew by ${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(r.p50 > 0 && r.reqPerSec > 0);
});

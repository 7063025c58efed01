// The benchmark workloads (a–e) and texts of an exact token count, shared by the bench scripts.

/** Workload name -> [texts, tokens per text (with <s>/</s>)]. */
export const WORKLOADS = { a: [1, 16], b: [8, 128], c: [1, 512], d: [1, 2048], e: [1, 8192] };

/**
 * A text of exactly `n` tokens for model `m` (anything with countTokens): words of a multilingual
 * sentence, searched by token count, then topped up with one-token words.
 */
export async function textOfTokens(m, n) {
  const words = 'The quick brown fox jumps over the lazy dog while a café in Berlin serves 42 Tassen Kaffee'.split(' ');
  const text = (k) => Array.from({ length: k }, (_, i) => words[i % words.length]).join(' ');
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((await m.countTokens(text(mid), { truncate: true })) <= n) lo = mid;
    else hi = mid - 1;
  }
  let t = text(lo);
  for (let i = 0; i < n && (await m.countTokens(`${t} a`, { truncate: true })) <= n; i++) t += ' a';
  return t;
}

// The CLI's stable contract: convert, tokenize, embed (JSON and line input), usage and runtime
// errors as {"error":{code,message}} on stderr with exit status 2 / 1, and a prompt exit.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { assertClose, cliPath, fixtureDir, loadExpected, repoRoot, tempDir, testThreads } from '../helpers.mjs';

const exp = loadExpected();
/** Every CLI run must end by itself well within this (the wasm's threads must not keep it alive). */
const RUN_TIMEOUT_MS = 60_000;

/** Runs the CLI with `input` on stdin; resolves to { status, stdout, stderr }. */
function runCli(args, input = '') {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot });
    const out = [];
    const err = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not exit within ${RUN_TIMEOUT_MS} ms: ${args.join(' ')}`));
    }, RUN_TIMEOUT_MS);
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.end(input);
  });
}

/** The {"error":{code,message}} line that a failing run writes last on stderr. */
function stderrError(stderr) {
  const { error } = JSON.parse(stderr.trim().split('\n').at(-1));
  assert.equal(typeof error.message, 'string');
  return error;
}

describe('cli', () => {
  const f32File = path.join(tempDir(), 'cli-f32.jv3');
  const threads = ['--threads', String(testThreads)];

  before(async () => {
    const { status, stdout, stderr } = await runCli(['convert', fixtureDir, '-o', f32File, '--dtype', 'f32']);
    assert.equal(status, 0, stderr);
    assert.match(stderr, /converting: \d+\/\d+ tensors/);
    const summary = JSON.parse(stdout);
    assert.equal(summary.bytesWritten, fs.statSync(f32File).size);
    assert.equal(summary.dtype, 'f32');
  });

  test('--version and --help', async () => {
    const version = await runCli(['--version']);
    assert.equal(version.status, 0);
    assert.equal(version.stdout.trim(), JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'))).version);
    const help = await runCli(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /jina-v3-wasm embed -m <file>/);
  });

  test('tokenize: one text per line', async () => {
    const texts = exp.texts.slice(0, 3);
    const { status, stdout, stderr } = await runCli(['tokenize', '-m', f32File], texts.map((t) => `${t.text}\n`).join(''));
    assert.equal(status, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), texts.map((t) => t.input_ids));
  });

  test('tokenize: a JSON array (texts with newlines and tabs)', async () => {
    const texts = exp.texts.filter((t) => ['tabs_newlines', 'whitespace_only', 'empty'].includes(t.id));
    const { status, stdout, stderr } = await runCli(['tokenize', '-m', f32File], JSON.stringify(texts.map((t) => t.text)));
    assert.equal(status, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), texts.map((t) => t.input_ids));
  });

  test('embed: two fixture texts match expected.json', async () => {
    const texts = exp.texts.slice(0, 2);
    const cases = texts.map((t) => t.cases.find((c) => c.task === 'retrieval.query' && c.instruction_prepended));
    const args = ['embed', '-m', f32File, '--task', 'retrieval.query', ...threads];
    const { status, stdout, stderr } = await runCli(args, JSON.stringify(texts.map((t) => t.text)));
    assert.equal(status, 0, stderr);
    const response = JSON.parse(stdout);
    assert.deepEqual(Object.keys(response), ['model', 'object', 'usage', 'data']);
    assert.equal(response.object, 'list');
    const tokens = cases.reduce((n, c) => n + c.input_ids.length, 0);
    assert.deepEqual(response.usage, { total_tokens: tokens, prompt_tokens: tokens });
    assert.equal(response.data.length, texts.length, 'one embedding per text');
    for (const [i, item] of response.data.entries()) {
      assert.deepEqual(Object.keys(item), ['object', 'index', 'embedding']);
      assert.equal(item.index, i);
      assertClose(item.embedding, cases[i].embedding, 1e-5, texts[i].id);
    }
  });

  test('embed: --no-instruction, --dimensions, --task none', async () => {
    const text = exp.texts[0];
    const query = text.cases.find((c) => c.task === 'retrieval.query' && !c.instruction_prepended);
    const plain = text.cases.find((c) => c.task === null);
    const q = await runCli(['embed', '-m', f32File, '--task', 'retrieval.query', '--no-instruction', '--dimensions', '64', ...threads], text.text);
    assert.equal(q.status, 0, q.stderr);
    assertClose(JSON.parse(q.stdout).data[0].embedding, query.matryoshka['64'], 1e-5, 'retrieval.query, no instruction, 64');
    const n = await runCli(['embed', '-m', f32File, '--task', 'none', ...threads], text.text);
    assert.equal(n.status, 0, n.stderr);
    assertClose(JSON.parse(n.stdout).data[0].embedding, plain.embedding, 1e-5, 'no adapter');
  });

  test('embed --late-chunking: one embedding per chunk', async () => {
    const lc = exp.late_chunking;
    const args = ['embed', '-m', f32File, '--task', lc.task, '--late-chunking', ...threads];
    const { status, stdout, stderr } = await runCli(args, JSON.stringify(lc.chunks.map((c) => c.text)));
    assert.equal(status, 0, stderr);
    const { data } = JSON.parse(stdout);
    assert.equal(data.length, lc.chunks.length);
    for (const [c, chunk] of lc.chunks.entries()) assertClose(data[c].embedding, chunk.embedding, 1e-5, `chunk ${c}`);
  });

  test('a runtime error: exit 1, its code on stderr', async () => {
    const bad = await runCli(['embed', '-m', f32File, '--dimensions', '33'], 'hello');
    assert.equal(bad.status, 1);
    assert.equal(stderrError(bad.stderr).code, 'E_BAD_DIMENSIONS');
    assert.equal(bad.stdout, '');
    const missing = await runCli(['embed', '-m', path.join(tempDir(), 'missing.jv3')], 'hello');
    assert.equal(missing.status, 1);
    assert.equal(stderrError(missing.stderr).code, 'E_IO');
    const empty = await runCli(['embed', '-m', f32File], '[]');
    assert.equal(empty.status, 1);
    assert.equal(stderrError(empty.stderr).code, 'E_EMPTY_INPUT');
  });

  test('embed: a request object on stdin, its options under the flags; other JSON values refused', async () => {
    const text = exp.texts[0];
    const query = text.cases.find((c) => c.task === 'retrieval.query' && c.instruction_prepended);
    const request = { input: [text.text], task: 'retrieval.query', dimensions: 64 };
    const r = await runCli(['embed', '-m', f32File, ...threads], JSON.stringify(request));
    assert.equal(r.status, 0, r.stderr);
    const { data } = JSON.parse(r.stdout);
    assert.equal(data.length, 1);
    assertClose(data[0].embedding, query.matryoshka['64'], 1e-5, 'request object, retrieval.query, 64');
    // A flag wins over the request's option.
    const full = await runCli(['embed', '-m', f32File, '--dimensions', String(query.embedding.length), ...threads], JSON.stringify(request));
    assert.equal(full.status, 0, full.stderr);
    assertClose(JSON.parse(full.stdout).data[0].embedding, query.embedding, 1e-5, 'request object, --dimensions full');
    for (const input of ['{"input": 3}', '42', 'null', '{"text": "no input"}']) {
      const bad = await runCli(['embed', '-m', f32File], input);
      assert.equal(bad.status, 1, `${input}: ${bad.stderr}`);
      assert.equal(stderrError(bad.stderr).code, 'E_BAD_INPUT_TYPE', input);
      assert.equal(bad.stdout, '');
    }
  });

  test('a usage error: exit 2, E_USAGE', async () => {
    for (const args of [[], ['frobnicate'], ['embed'], ['embed', '-m', f32File, '--bogus'], ['convert', fixtureDir], ['embed', '-m', f32File, '--threads', 'many']]) {
      const { status, stderr } = await runCli(args);
      assert.equal(status, 2, `${args.join(' ')}: ${stderr}`);
      assert.equal(stderrError(stderr).code, 'E_USAGE');
    }
  });
});

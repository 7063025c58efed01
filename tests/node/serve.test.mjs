// `jina-v3-wasm serve`: a Jina-shaped and an OpenAI-shaped request give the vectors embed() gives
// (and the fixture's), packed types match, bad requests (malformed JSON, wrong types, bodies over
// 16 MiB) get 4xx with {error:{code,message}}, and it listens on loopback only.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { after, before, test } from 'node:test';

import { startServer } from '../../scripts/bench/serve-load.mjs';
import { assertClose, caseOptions, convertedModel, loadExpected, loadModel } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
let child, url, model;

before(async () => {
  model = await loadModel('f32');
  ({ child, url } = await startServer(await convertedModel('f32'), 1));
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
});

after(async () => {
  await model?.dispose();
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});

async function post(body, path = '/v1/embeddings') {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

test('Jina-shaped request: same vectors as embed() and the fixture', async () => {
  const text = exp.texts[0];
  const c = text.cases.find((x) => x.task === 'text-matching') ?? text.cases[0];
  const { status, json } = await post({ model: 'jina-embeddings-v3', task: c.task, input: [text.text, exp.texts[1].text], embedding_type: 'float' });
  assert.equal(status, 200);
  assert.equal(json.object, 'list');
  assert.equal(json.data.length, 2);
  const direct = await model.embed([text.text, exp.texts[1].text], { task: c.task });
  for (const [i, d] of json.data.entries()) {
    assert.equal(d.index, i);
    assertClose(d.embedding, direct.data[i].embedding, 0, `item ${i} vs embed()`);
  }
  if (caseOptions(c).instruction) assertClose(json.data[0].embedding, c.embedding, TOL, 'vs fixture');
  assert.equal(json.usage.total_tokens, direct.usage.total_tokens);
});

test('OpenAI-shaped request: same vectors as the Jina shape and embed() (no task)', async () => {
  const input = exp.texts[2].text;
  const openai = await post({ model: 'text-embedding-3-small', input, encoding_format: 'float', dimensions: exp.model.matryoshka_dimensions[0] });
  const jina = await post({ model: 'jina-embeddings-v3', input: [{ text: input }], dimensions: exp.model.matryoshka_dimensions[0] });
  const direct = await model.embed(input, { dimensions: exp.model.matryoshka_dimensions[0] });
  assert.equal(openai.status, 200);
  assertClose(openai.json.data[0].embedding, direct.data[0].embedding, 0, 'openai vs embed()');
  assertClose(jina.json.data[0].embedding, direct.data[0].embedding, 0, 'jina vs embed()');
  const b64 = await post({ input, encoding_format: 'base64' });
  const decoded = new Float32Array(new Uint8Array(Buffer.from(b64.json.data[0].embedding, 'base64')).buffer);
  assertClose(decoded, (await model.embed(input)).data[0].embedding, 0, 'base64');
});

test('binary and ubinary packing, normalized false, late_chunking and truncate', async () => {
  const input = [exp.texts[0].text, exp.texts[1].text];
  const ub = await post({ input, embedding_type: 'ubinary', task: 'separation' });
  const bin = await post({ input, embedding_type: 'binary', task: 'separation' });
  const want = await model.embed(input, { task: 'separation', embeddingType: 'ubinary' });
  assert.deepEqual(ub.json.data[0].embedding, Array.from(want.data[0].embedding));
  assert.deepEqual(bin.json.data[0].embedding, Array.from(want.data[0].embedding, (x) => x - 128));
  const raw = await post({ input, normalized: false, late_chunking: true, truncate: true });
  const direct = await model.embed(input, { normalized: false, lateChunking: true, truncate: true });
  assertClose(raw.json.data[1].embedding, direct.data[1].embedding, 0, 'late chunking, unnormalized');
});

test('bad requests: 4xx with {error:{code,message}}', async () => {
  const cases = [
    [await post('{not json'), 400, 'E_INVALID_ARGUMENT'],
    [await post({ model: 'x' }), 400, 'E_INVALID_ARGUMENT'],
    [await post({ input: [] }), 400, 'E_EMPTY_INPUT'],
    [await post({ input: [1] }), 400, 'E_BAD_INPUT_TYPE'],
    [await post({ input: 'x', task: 'summarize' }), 400, 'E_UNKNOWN_TASK'],
    [await post({ input: 'x', dimensions: 3 }), 400, 'E_BAD_DIMENSIONS'],
    [await post({ input: 'x', embedding_type: 'int4' }), 400, 'E_INVALID_ARGUMENT'],
    [await post({ input: 'x' }, '/v2/nothing'), 404, 'E_NOT_FOUND'],
  ];
  for (const [res, status, code] of cases) {
    assert.equal(res.status, status, JSON.stringify(res.json));
    assert.equal(res.json.error.code, code);
    assert.equal(typeof res.json.error.message, 'string');
  }
  const get = await fetch(`${url}/v1/embeddings`);
  assert.equal(get.status, 405);
});

test('wrong types: 400 with the code naming the problem', async () => {
  const cases = [
    ['[]', 'E_INVALID_ARGUMENT'], ['null', 'E_INVALID_ARGUMENT'], ['"hello"', 'E_INVALID_ARGUMENT'], ['', 'E_INVALID_ARGUMENT'],
    [{ input: 5 }, 'E_INVALID_ARGUMENT'], [{ input: { text: 'x' } }, 'E_INVALID_ARGUMENT'], [{ input: null }, 'E_INVALID_ARGUMENT'],
    [{ input: [null] }, 'E_BAD_INPUT_TYPE'], [{ input: [{ text: 5 }] }, 'E_BAD_INPUT_TYPE'], [{ input: ['a', ['b']] }, 'E_BAD_INPUT_TYPE'],
    [{ input: 'x', task: 3 }, 'E_INVALID_ARGUMENT'], [{ input: 'x', normalized: 'yes' }, 'E_INVALID_ARGUMENT'],
    [{ input: 'x', late_chunking: 1 }, 'E_INVALID_ARGUMENT'], [{ input: 'x', truncate: 'no' }, 'E_INVALID_ARGUMENT'],
    [{ input: 'x', dimensions: 64.5 }, 'E_BAD_DIMENSIONS'], [{ input: 'x', dimensions: '64' }, 'E_BAD_DIMENSIONS'],
    [{ input: 'x', embedding_type: 5 }, 'E_INVALID_ARGUMENT'], [{ input: 'x', encoding_format: 'base64', embedding_type: 'float' }, 'E_INVALID_ARGUMENT'],
  ];
  for (const [body, code] of cases) {
    const res = await post(body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.json)}`);
    assert.equal(res.json.error.code, code, JSON.stringify(body));
  }
});

test('a body over 16 MiB: 413, announced or chunked, and the server keeps answering', async () => {
  const big = JSON.stringify({ input: ['x'.repeat((16 << 20) + 10)] });
  const announced = await post(big);
  assert.equal(announced.status, 413);
  assert.equal(announced.json.error.code, 'E_BODY_TOO_LARGE');
  const piece = new TextEncoder().encode('x'.repeat(1 << 20));
  let sent = 0;
  const chunked = new ReadableStream({
    pull(controller) {
      // Stops at 64 MiB: a server that reads on regardless would make this request hang.
      if ((sent += piece.length) > 64 << 20) controller.close();
      else controller.enqueue(piece);
    },
  });
  const res = await fetch(`${url}/v1/embeddings`, { method: 'POST', body: chunked, duplex: 'half' }).catch((err) => err);
  assert.ok(sent < 64 << 20, `the upload was refused early, not read to the end (${sent} bytes sent)`);
  if (res instanceof Response) {
    assert.equal(res.status, 413);
    assert.equal((await res.json()).error.code, 'E_BODY_TOO_LARGE');
  } else {
    assert.match(String(res.cause?.code ?? res), /ECONNRESET|EPIPE|UND_ERR_SOCKET/, 'the connection may be closed instead');
  }
  assert.equal((await post({ input: 'still up' })).status, 200);
});

test('listens on 127.0.0.1 only: not reachable through another local address', async () => {
  const { port } = new URL(url);
  const others = Object.values(os.networkInterfaces()).flat().filter((a) => a.family === 'IPv4' && !a.internal);
  for (const { address } of others) {
    const err = await new Promise((resolve) => {
      const socket = net.connect(Number(port), address, () => { socket.destroy(); resolve(null); });
      socket.on('error', resolve);
    });
    assert.equal(err?.code, 'ECONNREFUSED', `${address}:${port} answered`);
  }
});

// Node: an HTTP endpoint with the Jina and OpenAI embeddings API shapes (POST /v1/embeddings), so
// existing clients can point at a local model. Listens on 127.0.0.1 only.
import http from 'node:http';

import { EMBEDDING_TYPES, encodeEmbedding } from './encoding.mjs';
import { E_BODY_TOO_LARGE, E_INTERNAL, E_METHOD, E_NOT_FOUND, EmbeddingError } from './errors.mjs';

/** Request bodies beyond this are refused with 413 (a batch of long texts is far smaller). */
const MAX_BODY_BYTES = 16 << 20;

/** HTTP status of each error code: the caller's fault is 4xx, the server's 5xx. */
const STATUS = {
  E_LIMIT: 413, [E_BODY_TOO_LARGE]: 413, [E_NOT_FOUND]: 404, [E_METHOD]: 405,
  E_OUT_OF_MEMORY: 500, E_BACKEND: 500, E_STATE: 500, E_IO: 500, [E_INTERNAL]: 500,
};

class RequestError extends EmbeddingError {}

function bad(message) {
  return new RequestError('E_INVALID_ARGUMENT', message);
}

/** `input`: a string, a list of strings, or (Jina) a list of `{ text }` objects. */
function parseInput(input) {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) throw bad('"input" must be a string or a list of strings');
  return input.map((x, i) => {
    if (typeof x === 'string') return x;
    if (x && typeof x === 'object' && typeof x.text === 'string') return x.text;
    throw new EmbeddingError('E_BAD_INPUT_TYPE', `input[${i}] must be a string or {"text": string}`);
  });
}

function optionalBool(body, key) {
  if (body[key] === undefined || body[key] === null) return undefined;
  if (typeof body[key] !== 'boolean') throw bad(`"${key}" must be true or false`);
  return body[key];
}

/**
 * Maps a request body of either shape onto embed() options. Jina: task, embedding_type,
 * normalized, late_chunking, truncate; OpenAI: encoding_format ('float' | 'base64'). Both:
 * input, model (accepted, not checked: one model is served), dimensions.
 */
export function parseEmbeddingRequest(body) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad('the body must be a JSON object');
  if (body.input === undefined) throw bad('"input" is required');
  const texts = parseInput(body.input);
  if (body.embedding_type !== undefined && body.encoding_format !== undefined && body.embedding_type !== body.encoding_format) {
    throw bad('give "embedding_type" or "encoding_format", not both');
  }
  const embeddingType = body.embedding_type ?? body.encoding_format ?? 'float';
  if (!EMBEDDING_TYPES.includes(embeddingType)) {
    throw bad(`"embedding_type" must be one of ${EMBEDDING_TYPES.join(', ')}, got ${JSON.stringify(embeddingType)}`);
  }
  if (body.dimensions !== undefined && body.dimensions !== null && !Number.isInteger(body.dimensions)) {
    throw new EmbeddingError('E_BAD_DIMENSIONS', '"dimensions" must be an integer');
  }
  if (body.task !== undefined && body.task !== null && typeof body.task !== 'string') throw bad('"task" must be a string');
  const options = {
    task: body.task ?? null,
    dimensions: body.dimensions ?? undefined,
    normalized: optionalBool(body, 'normalized'),
    lateChunking: optionalBool(body, 'late_chunking'),
    truncate: optionalBool(body, 'truncate'),
    embeddingType,
  };
  for (const k of Object.keys(options)) if (options[k] === undefined) delete options[k];
  return { texts, options };
}

/** JSON-ready: typed arrays become plain arrays (base64 stays a string). */
function jsonEmbedding(e) {
  return typeof e === 'string' ? e : Array.from(e);
}

async function readBody(req) {
  const parts = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new RequestError(E_BODY_TOO_LARGE, `the body exceeds ${MAX_BODY_BYTES} bytes: send fewer texts per request`);
    parts.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (err) {
    throw bad(`the body is not valid JSON: ${err.message}`);
  }
}

function send(res, status, payload) {
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * An http.Server answering POST /v1/embeddings (and GET /v1/models) with `model`. Not yet listening.
 * @param {import('./index.mjs').JinaEmbeddings} model
 */
export function createEmbeddingServer(model) {
  return http.createServer(async (req, res) => {
    try {
      const { pathname } = new URL(req.url, 'http://localhost');
      if (pathname === '/v1/models' && req.method === 'GET') {
        send(res, 200, { object: 'list', data: [{ id: 'jina-embeddings-v3', object: 'model', owned_by: 'local' }] });
        return;
      }
      if (pathname !== '/v1/embeddings') throw new RequestError(E_NOT_FOUND, `no route ${pathname}: POST /v1/embeddings`);
      if (req.method !== 'POST') throw new RequestError(E_METHOD, `${req.method} is not allowed: POST a JSON body`);
      const { texts, options } = parseEmbeddingRequest(await readBody(req));
      const { embeddingType, ...embedOptions } = options;
      const result = await model.embed(texts, embedOptions);
      // Encoded here rather than by embed(), so the float rows are at hand for every type.
      const data = result.data.map((d) => ({ ...d, embedding: jsonEmbedding(encodeEmbedding(d.embedding, embeddingType)) }));
      send(res, 200, { ...result, data });
    } catch (err) {
      const code = err instanceof EmbeddingError ? err.code : E_INTERNAL;
      send(res, STATUS[code] ?? (err instanceof EmbeddingError ? 400 : 500), { error: { code, message: err?.message ?? String(err) } });
    }
  });
}

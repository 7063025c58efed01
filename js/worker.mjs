// Runs inside a Web Worker started by JinaEmbeddingsWorker (client.mjs): one model per worker,
// requests answered by id, so the page's main thread never blocks on the engine.
import { EmbeddingError } from './errors.mjs';
import { JinaEmbeddings } from './index.mjs';

let model;
/** id of a pending load -> its AbortController (the client's signal is forwarded as a message). */
const aborts = new Map();

function reply(id, payload, transfer = []) {
  self.postMessage({ id, ...payload }, transfer);
}

function replyError(id, err) {
  const code = err instanceof EmbeddingError ? err.code : 'E_STATE';
  reply(id, { error: { code, message: err?.message ?? String(err) } });
}

/** The one ArrayBuffer behind every float row (they are views into it): transferred, not copied. */
function transferables(res) {
  const buffers = new Set();
  for (const d of res.data) if (ArrayBuffer.isView(d.embedding)) buffers.add(d.embedding.buffer);
  return [...buffers];
}

const handlers = {
  async load(id, { source, options }) {
    if (model) throw new EmbeddingError('E_STATE', 'this worker already holds a model: start another JinaEmbeddingsWorker');
    const controller = new AbortController();
    aborts.set(id, controller);
    try {
      model = await JinaEmbeddings.load(source, {
        ...options,
        signal: controller.signal,
        onProgress: options.wantProgress ? (progress) => reply(id, { progress }) : undefined,
      });
    } finally {
      aborts.delete(id);
    }
    return { result: { info: model.info } };
  },
  async embed(id, { input, options }) {
    const res = await requireModel().embed(input, options);
    return { result: res, transfer: transferables(res) };
  },
  async tokenize(id, { input, options }) {
    return { result: await requireModel().tokenize(input, options) };
  },
  async countTokens(id, { input, options }) {
    return { result: await requireModel().countTokens(input, options) };
  },
  async dispose() {
    await model?.dispose();
    return { result: null };
  },
};

function requireModel() {
  if (!model) throw new EmbeddingError('E_STATE', 'no model loaded in this worker');
  return model;
}

self.onmessage = async ({ data }) => {
  const { id, op } = data;
  if (op === 'abort') {
    aborts.get(data.target)?.abort();
    return;
  }
  try {
    const handler = handlers[op];
    if (!handler) throw new EmbeddingError('E_INVALID_ARGUMENT', `unknown request ${op}`);
    const { result, transfer } = await handler(id, data);
    reply(id, { result }, transfer);
  } catch (err) {
    replyError(id, err);
  }
};

// Types of jina-v3-wasm/server (Node): the HTTP endpoint with the Jina and OpenAI embeddings API shapes.
import type { Server } from 'node:http';

import type { EmbeddingType, EmbedOptions, JinaEmbeddings } from './index.d.ts';

/** A request body of either API shape, as embed() arguments. */
export interface EmbeddingRequest {
  /** `input`: a string, a list of strings, or (Jina) a list of `{ text }` objects, as strings. */
  texts: string[];
  /**
   * The embed() options the body sets (`late_chunking` becomes `lateChunking`), and the
   * `embedding_type` or `encoding_format` asked for (default `'float'`), which the server applies
   * to the float rows itself.
   */
  options: Pick<EmbedOptions, 'dimensions' | 'normalized' | 'lateChunking' | 'truncate'> & {
    task: string | null;
    embeddingType: EmbeddingType;
  };
}

/**
 * Validates a parsed JSON request body (Jina: task, embedding_type, normalized, late_chunking,
 * truncate; OpenAI: encoding_format; both: input, model (accepted, not checked), dimensions).
 * Throws an EmbeddingError (`E_INVALID_ARGUMENT`, `E_BAD_INPUT_TYPE`, `E_BAD_DIMENSIONS`) for a bad one.
 */
export function parseEmbeddingRequest(body: unknown): EmbeddingRequest;

/**
 * An http.Server answering POST /v1/embeddings (and GET /v1/models) with `model`; not yet
 * listening. Errors are answered as `{ error: { code, message } }` with a 4xx or 5xx status.
 */
export function createEmbeddingServer(model: Pick<JinaEmbeddings, 'embed'>): Server;

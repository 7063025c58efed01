#!/usr/bin/env node
// Command-line interface: convert a checkpoint, embed or tokenize texts from stdin, serve an HTTP endpoint.
// The flags, the JSON on stdout and the {"error":{code,message}} on stderr are a stable contract
// that other tools script against: only add to them.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { E_INTERNAL, E_USAGE } from '../js/errors.mjs';
import { convertCheckpoint, EmbeddingError, JinaEmbeddings } from '../js/index.mjs';
import { parseEmbeddingRequest } from '../js/server.mjs';

const HELP = `Usage:
  jina-v3-wasm convert <checkpoint-dir> -o <file> [--dtype int8|f32]
  jina-v3-wasm embed -m <file> [--task T] [--dimensions D] [--no-instruction]
                     [--truncate] [--late-chunking] [--threads N] [--memory M]
  jina-v3-wasm tokenize -m <file>
  jina-v3-wasm serve -m <file> [--port P] [--threads N] [--memory M]
  jina-v3-wasm --help | --version

convert   Converts a Hugging Face checkpoint folder (config.json, model.safetensors,
          tokenizer.json, tokenizer_config.json) into one model file (default dtype int8).
          Progress goes to stderr; a JSON summary to stdout.
embed     Reads a JSON array of strings on stdin, or a request object as serve takes it
          ({"input": [...], "task": ..., "dimensions": ...}; flags override its options),
          or, if stdin is not JSON, one text per line; and
          writes {"model","object":"list","usage":{...},"data":[{"object":"embedding",
          "index","embedding":[...]}]} to stdout.
          --task T          retrieval.query | retrieval.passage | separation |
                            classification | text-matching | none (default: none, no adapter)
          --dimensions D    Matryoshka size (default: full)
          --no-instruction  do not prepend the task's instruction
          --truncate        cut over-long texts instead of failing with E_TOO_LONG
          --late-chunking   the texts are consecutive chunks of one document (joined with no
                            separator): one pass, one embedding per chunk
          --threads N       worker threads (default: CPU count, at most 4)
          --memory M        resident (default: the whole model in memory) | paged (the
                            word-embedding table stays in the file; each call reads its rows)
                            | streamed (the layers too: each forward pass reads them)
tokenize  Same input; writes [[ids...], ...] (with <s> and </s>) to stdout.
serve     Answers POST /v1/embeddings on http://127.0.0.1:P (default 8080; 0 picks a free
          port) with the Jina and OpenAI request shapes: input, model, task, dimensions,
          embedding_type (float|base64|binary|ubinary) or encoding_format, normalized,
          late_chunking, truncate. Bad requests get 4xx and {"error":{"code","message"}}.
          Prints {"url": ...} on stdout once listening; stops on SIGINT/SIGTERM.
          -m may also be a checkpoint folder (converted while loading, then cached).

On error: exit status 1 (2 for a bad command line) and {"error":{"code","message"}} on stderr.
`;

/** A bad command line: exit status 2, code E_USAGE. */
class UsageError extends Error {
  code = E_USAGE;
}

const COMMANDS = {
  convert: {
    options: {
      output: { type: 'string', short: 'o' },
      dtype: { type: 'string', default: 'int8' },
    },
    positionals: 1,
  },
  embed: {
    options: {
      model: { type: 'string', short: 'm' },
      task: { type: 'string' },
      dimensions: { type: 'string' },
      'no-instruction': { type: 'boolean', default: false },
      truncate: { type: 'boolean', default: false },
      'late-chunking': { type: 'boolean', default: false },
      threads: { type: 'string' },
      memory: { type: 'string' },
    },
    positionals: 0,
  },
  tokenize: {
    options: {
      model: { type: 'string', short: 'm' },
      threads: { type: 'string' },
    },
    positionals: 0,
  },
  serve: {
    options: {
      model: { type: 'string', short: 'm' },
      port: { type: 'string', default: '8080' },
      threads: { type: 'string' },
      memory: { type: 'string' },
    },
    positionals: 0,
  },
};

/** Parses a command's flags; any unknown flag or missing value is a usage error. */
function parseCommand(name, args) {
  const spec = COMMANDS[name];
  let parsed;
  try {
    parsed = parseArgs({ args, options: spec.options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${name}: ${err.message}`);
  }
  if (parsed.positionals.length !== spec.positionals) {
    throw new UsageError(`${name}: expected ${spec.positionals} positional argument(s), got ${parsed.positionals.length}`);
  }
  return parsed;
}

function positiveInt(flag, value) {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
  return Number(value);
}

function requireFlag(command, flag, value) {
  if (value === undefined) throw new UsageError(`${command}: ${flag} is required`);
  return value;
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The texts (and request options) of stdin: a JSON array of strings; a JSON string (one text); a
 * Jina/OpenAI request object (`{"input": [...], "task": ..., ...}`, as `serve` takes it); any other
 * JSON value is E_BAD_INPUT_TYPE. Input that is not JSON at all is one text per line (a final
 * newline ends the last one).
 * @returns {{ texts: unknown[], options: Record<string, unknown> }}
 */
function parseStdin(input) {
  let parsed;
  try {
    parsed = JSON.parse(input);
  } catch {
    const lines = input.split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    return { texts: lines, options: {} };
  }
  if (Array.isArray(parsed)) return { texts: parsed, options: {} };
  if (typeof parsed === 'string') return { texts: [parsed], options: {} };
  if (parsed && typeof parsed === 'object') {
    if (typeof parsed.input !== 'string' && !Array.isArray(parsed.input)) {
      throw new EmbeddingError('E_BAD_INPUT_TYPE', 'a request object on stdin needs "input": a string or a list of strings');
    }
    return parseEmbeddingRequest(parsed);
  }
  throw new EmbeddingError('E_BAD_INPUT_TYPE',
    `stdin holds the JSON value ${JSON.stringify(parsed)}: give a JSON array of strings, a request object {"input": [...]}, or lines of text`);
}

/** Progress on stderr: a self-updating line on a terminal, a line per 10% otherwise (logs stay short). */
function convertProgress() {
  let lastDecile = -1;
  return ({ tensorsDone, tensorsTotal }) => {
    const pct = tensorsTotal ? Math.floor((100 * tensorsDone) / tensorsTotal) : 0;
    if (process.stderr.isTTY) {
      process.stderr.write(`\rconverting: ${tensorsDone}/${tensorsTotal} tensors (${pct}%)`);
      if (tensorsDone === tensorsTotal) process.stderr.write('\n');
    } else if (Math.floor(pct / 10) > lastDecile) {
      lastDecile = Math.floor(pct / 10);
      process.stderr.write(`converting: ${tensorsDone}/${tensorsTotal} tensors (${pct}%)\n`);
    }
  };
}

/** Writes to stdout and resolves once the data is handed to the OS, so exiting cannot cut it. */
function writeStdout(text) {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

async function runConvert(args) {
  const { values, positionals } = parseCommand('convert', args);
  const output = requireFlag('convert', '-o', values.output);
  if (values.dtype !== 'int8' && values.dtype !== 'f32') {
    throw new UsageError(`--dtype must be int8 or f32, got "${values.dtype}"`);
  }
  const result = await convertCheckpoint(positionals[0], output, { dtype: values.dtype, onProgress: convertProgress() });
  await writeStdout(`${JSON.stringify({ ...result, dtype: values.dtype })}\n`);
}

/** `--memory`: resident | paged | streamed (undefined: the load's default). */
function memoryMode(value) {
  if (value === undefined || ['resident', 'paged', 'streamed'].includes(value)) return value;
  throw new UsageError(`--memory must be resident, paged or streamed, got "${value}"`);
}

/**
 * Loads the model of `-m`, runs `fn(model, texts, options)` on the texts of stdin (options: those of
 * a request object there), and always frees the model.
 */
async function withModel(command, values, fn) {
  const file = requireFlag(command, '-m', values.model);
  const threads = positiveInt('--threads', values.threads);
  const memory = memoryMode(values.memory);
  const { texts, options } = parseStdin(await readStdin());
  const model = await JinaEmbeddings.load(file, { threads, memory });
  try {
    return await fn(model, texts, options);
  } finally {
    await model.dispose();
  }
}

async function runEmbed(args) {
  const { values } = parseCommand('embed', args);
  const dimensions = positiveInt('--dimensions', values.dimensions);
  // A request object's options, then the flags given on the command line over them.
  const flags = {
    task: values.task === undefined ? undefined : values.task === 'none' ? null : values.task,
    dimensions,
    instruction: values['no-instruction'] ? false : undefined,
    truncate: values.truncate || undefined,
    lateChunking: values['late-chunking'] || undefined,
  };
  const response = await withModel('embed', values, (model, texts, options) => {
    const merged = { task: null, ...options };
    for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
    return model.embed(texts, merged);
  });
  // base64 embeddings are strings already; the others become plain arrays.
  const data = response.data.map((d) => ({
    object: d.object,
    index: d.index,
    embedding: typeof d.embedding === 'string' ? d.embedding : Array.from(d.embedding),
  }));
  await writeStdout(`${JSON.stringify({ ...response, data })}\n`);
}

async function runTokenize(args) {
  const { values } = parseCommand('tokenize', args);
  const ids = await withModel('tokenize', values, (model, texts) => model.tokenize(texts));
  await writeStdout(`${JSON.stringify(ids.map((x) => Array.from(x)))}\n`);
}

async function runServe(args) {
  const { values } = parseCommand('serve', args);
  const file = requireFlag('serve', '-m', values.model);
  if (!/^[0-9]+$/.test(values.port) || Number(values.port) > 65535) throw new UsageError(`--port must be 0..65535, got "${values.port}"`);
  const threads = positiveInt('--threads', values.threads);
  const memory = memoryMode(values.memory);
  const { createEmbeddingServer } = await import('../js/server.mjs');
  const model = await JinaEmbeddings.load(file, { threads, memory });
  const server = createEmbeddingServer(model);
  await new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new EmbeddingError('E_IO', `cannot listen on 127.0.0.1:${values.port}: ${err.message}`)));
    server.listen(Number(values.port), '127.0.0.1', resolve);
  });
  await writeStdout(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await new Promise((resolve) => server.close(resolve));
  await model.dispose();
}

function version() {
  return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
}

async function main(argv) {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || rest.includes('--help') || rest.includes('-h')) {
    await writeStdout(HELP);
    return;
  }
  if (command === '--version' || command === '-v') {
    await writeStdout(`${version()}\n`);
    return;
  }
  if (command === 'convert') return runConvert(rest);
  if (command === 'embed') return runEmbed(rest);
  if (command === 'tokenize') return runTokenize(rest);
  if (command === 'serve') return runServe(rest);
  throw new UsageError(command === undefined ? 'no command given (see --help)' : `unknown command "${command}" (see --help)`);
}

let status = 0;
try {
  await main(process.argv.slice(2));
} catch (err) {
  const known = err instanceof EmbeddingError || err instanceof UsageError;
  const error = { code: known ? err.code : E_INTERNAL, message: err?.message ?? String(err) };
  process.stderr.write(`${JSON.stringify({ error })}\n`);
  status = err instanceof UsageError ? 2 : 1;
}
// The wasm's pthread workers can keep the event loop alive: exit explicitly once output is written.
process.exit(status);

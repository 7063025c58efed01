#!/usr/bin/env node
// Static file server for the demo and the browser tests: 127.0.0.1 only, the repository as its
// root, and (unless --no-isolation) the COOP/COEP headers that make pages cross-origin isolated,
// which the threaded wasm build needs (SharedArrayBuffer).
//   node scripts/dev/static-server.mjs [--port 8080] [--no-isolation]
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript', '.js': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * Serves files under `root`. Resolves to the listening server and its base URL. `onRequest(req)`
 * sees every request first (the tests count them); `ranges: false` answers Range requests with
 * the whole file (200), as some hosts do.
 * @param {{ root: string, port?: number, isolation?: boolean, index?: string, onRequest?: (req: http.IncomingMessage) => void, ranges?: boolean }} options
 */
export function startStaticServer({ root, port = 0, isolation = true, index = '/web-demo/', onRequest, ranges = true }) {
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    onRequest?.(req);
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/') {
      res.writeHead(302, { location: index });
      return res.end();
    }
    const file = path.resolve(base, `.${decodeURIComponent(url.pathname)}`);
    const headers = isolation
      ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
      : {};
    let target = file;
    if (file.startsWith(base) && fs.existsSync(file) && fs.statSync(file).isDirectory()) target = path.join(file, 'index.html');
    if (!target.startsWith(base + path.sep) || !fs.existsSync(target) || !fs.statSync(target).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain', ...headers });
      return res.end('not found');
    }
    const { size, mtimeMs, mtime } = fs.statSync(target);
    // The validators static hosts send (size and mtime, as nginx's ETag): the model cache keys on them.
    const type = {
      'content-type': TYPES[path.extname(target)] || 'application/octet-stream',
      etag: `"${Math.trunc(mtimeMs).toString(16)}-${size.toString(16)}"`,
      'last-modified': mtime.toUTCString(),
      ...(ranges ? { 'accept-ranges': 'bytes' } : {}),
    };
    // One `bytes=start-end` range (what paged memory asks for), as static file hosts answer it.
    const range = ranges ? /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') : null;
    if (range && Number(range[1]) <= Number(range[2]) && Number(range[1]) < size) {
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), size - 1)];
      res.writeHead(206, { ...type, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1,
        'cache-control': 'no-cache', ...headers });
      if (req.method === 'HEAD') return res.end();
      return fs.createReadStream(target, { start, end }).pipe(res);
    }
    res.writeHead(200, { ...type, 'content-length': size, 'cache-control': 'no-cache', ...headers });
    if (req.method === 'HEAD') return res.end();
    fs.createReadStream(target).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--port');
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const { url } = await startStaticServer({ root, port: i >= 0 ? +args[i + 1] : 8080, isolation: !args.includes('--no-isolation') });
  console.log(`jina-v3-wasm demo: ${url}/web-demo/  (Ctrl-C to stop)`);
}

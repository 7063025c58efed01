// Cloudflare Workers, locally: workerd (from npm) runs tests/runtimes/workerd/worker.mjs with the package's
// modules and a single-thread wasm imported as a module (relaxed SIMD; SIMD128 once); its vectors
// must match the fixture, in every memory mode (paged and streamed read the model through a binding with Range requests).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { assertClose, caseOptions, convertedModel, loadExpected, repoRoot, tempDir } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
const workerd = path.join(repoRoot, 'node_modules', '.bin', 'workerd');
let child, url, stderr = '';

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

before(async () => {
  if (!fs.existsSync(workerd)) throw new Error(`${workerd} missing: run npm ci`);
  const dir = fs.mkdtempSync(path.join(tempDir(), 'workerd-'));
  fs.copyFileSync(await convertedModel('f32'), path.join(dir, 'model.jv3'));
  const port = await freePort();
  // Every module the Worker may import, by its path relative to the repository (so the package's
  // relative imports resolve as they do on disk).
  const modules = [
    ['tests/runtimes/workerd/worker.mjs', 'esModule'],
    ...fs.readdirSync(path.join(repoRoot, 'js')).filter((f) => f.endsWith('.mjs') && !['server.mjs', 'worker.mjs', 'client.mjs'].includes(f)).map((f) => [`js/${f}`, 'esModule']),
    ['dist/jina-v3-wasm-st.mjs', 'esModule'],
    ['dist/jina-v3-wasm-st.wasm', 'wasm'],
    ['dist/jina-v3-wasm-st-relaxed.wasm', 'wasm'],
  ];
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "files", disk = (path = ${JSON.stringify(dir)}, writable = false)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
${modules.map(([name, kind]) => `    (name = ${JSON.stringify(name)}, ${kind} = embed ${JSON.stringify(path.relative(dir, path.join(repoRoot, name)))}),`).join('\n')}
  ],
  compatibilityDate = "2024-09-23",
  bindings = [(name = "FILES", service = "files")],
);
`;
  // embed paths are resolved relative to the config file (absolute ones are refused).
  const configPath = path.join(dir, "config.capnp");
  fs.writeFileSync(configPath, config);
  // Its own process group: node_modules/.bin/workerd is a Node wrapper around the binary, which a
  // signal to the wrapper alone would leave running (holding our pipes open).
  child = spawn(workerd, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.on('data', (d) => { stderr += d; });
  url = `http://127.0.0.1:${port}/`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited: ${stderr}`);
    if (Date.now() - started > 30000) throw new Error(`workerd did not start: ${stderr}`);
    try {
      await new Promise((resolve, reject) => net.connect(port, '127.0.0.1').once('connect', function () { this.end(); resolve(); }).once('error', reject));
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  if (child && child.exitCode === null) {
    const exited = once(child, 'exit');
    process.kill(-child.pid, 'SIGKILL');
    await exited;
  }
});

const RUNS = [['relaxed', 'resident'], ['relaxed', 'paged'], ['relaxed', 'streamed'], ['simd128', 'resident']];
for (const [build, memory] of RUNS) {
  const variant = build === 'relaxed' ? 'wasm-st-relaxed' : 'wasm-st';
  test(`workerd: ${variant} from an imported wasm module, ${memory} memory, fixture vectors`, async () => {
    for (const text of exp.texts.slice(0, 3)) {
      for (const c of text.cases) {
        const res = await fetch(url, { method: 'POST', body: JSON.stringify({ input: [text.text], options: caseOptions(c), memory, build }) });
        const body = await res.text();
        assert.equal(res.status, 200, `${body}\n${stderr}`);
        const json = JSON.parse(body);
        assert.equal(json.variant, variant);
        assert.equal(json.threads, 1);
        assert.equal(json.memory, memory);
        assertClose(json.rows[0], c.embedding, TOL, `${memory} / ${text.id} / ${c.task}`);
      }
    }
  });
}

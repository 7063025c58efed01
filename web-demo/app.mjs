// Demo page logic: load a model (URL, official checkpoint, or local files) with progress, embed the
// texts, draw the first 8 dimensions of each vector and the cosine-similarity heatmap.
// The model runs in a Web Worker, so the page stays responsive while it loads and embeds.
import { JinaEmbeddingsWorker } from '../js/client.mjs';
import { canUseThreads, detectVariant } from '../js/variant.mjs';

const $ = (id) => document.getElementById(id);
const BARS = 8;
let model = null;
let lastResult = null;

// The status line says what the package reports: before a load, the build it will pick here;
// after, the build that runs, its thread count and any build it had to drop.
$('runtime').textContent = canUseThreads()
  ? `This page can run multi-threaded: the ${detectVariant()} build (${navigator.hardwareConcurrency} logical cores).`
  : `This page runs single-threaded: the ${detectVariant()} build (threads need SharedArrayBuffer: ` +
    'serve with COOP/COEP headers).';

/** The status line for a loaded model, from model.info. */
function describeRuntime(info) {
  const threads = info.threads > 1 ? `multi-threaded, ${info.threads} threads` : 'single-threaded';
  const dropped = info.fallback.map((f) => `${f.variant} could not start (${f.reason})`).join('; ');
  return `Running the ${info.variant} build, ${threads}.` + (dropped ? ` Fallback: ${dropped}.` : '');
}

// Source choice shows the matching inputs.
for (const radio of document.querySelectorAll('input[name=source]')) {
  radio.addEventListener('change', () => {
    for (const el of document.querySelectorAll('[data-for]')) el.hidden = el.dataset.for !== radio.value;
  });
}

const dropZone = $('drop-zone');
dropZone.addEventListener('dragover', (e) => { e.preventDefault(); dropZone.classList.add('over'); });
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
dropZone.addEventListener('drop', (e) => {
  e.preventDefault();
  dropZone.classList.remove('over');
  $('model-files').files = e.dataTransfer.files;
  dropZone.textContent = [...e.dataTransfer.files].map((f) => f.name).join(', ');
});

function showError(id, err) {
  const el = $(id);
  el.hidden = !err;
  el.textContent = err ? `${err.code ? `${err.code}: ` : ''}${err.message || err}` : '';
}

function formatBytes(n) {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

/** What the chosen source hands to JinaEmbeddings.load. */
function chosenSource() {
  const kind = document.querySelector('input[name=source]:checked').value;
  if (kind === 'url') return new URL($('model-url').value, location.href).href;
  if (kind === 'official') {
    const prefix = new URL($('official-url').value, location.href).href;
    return prefix.endsWith('/') ? prefix : `${prefix}/`;
  }
  const files = [...$('model-files').files];
  if (files.length === 0) throw Object.assign(new Error('choose a model file, or the checkpoint files'), { code: 'E_INVALID_ARGUMENT' });
  if (files.length === 1) return files[0];
  const byName = Object.fromEntries(files.map((f) => [f.name, f]));
  const missing = ['config.json', 'model.safetensors', 'tokenizer.json'].filter((n) => !byName[n]);
  if (missing.length) {
    throw Object.assign(new Error(`missing checkpoint file(s): ${missing.join(', ')} (or choose one converted model file)`),
      { code: 'E_BAD_CHECKPOINT' });
  }
  return { config: byName['config.json'], weights: byName['model.safetensors'], tokenizer: byName['tokenizer.json'],
    tokenizerConfig: byName['tokenizer_config.json'] };
}

$('model-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  showError('model-error', null);
  $('embed-button').disabled = true;
  $('load-button').disabled = true;
  $('progress-area').hidden = false;
  const started = performance.now();
  try {
    if (model) await model.dispose();
    model = null;
    model = await JinaEmbeddingsWorker.load(chosenSource(), {
      onProgress(p) {
        const secs = (performance.now() - started) / 1000;
        $('progress').max = p.bytesTotal || 1;
        $('progress').value = p.bytesLoaded;
        $('progress-text').textContent = `${p.phase}: ${formatBytes(p.bytesLoaded)}` +
          (p.bytesTotal ? ` of ${formatBytes(p.bytesTotal)}` : '') +
          ` at ${formatBytes(p.bytesLoaded / Math.max(secs, 1e-3))}/s` +
          (p.tensorsTotal ? `, ${p.tensorsReady}/${p.tensorsTotal} tensors` : '');
      },
    });
    const info = model.info;
    $('runtime').textContent = describeRuntime(info);
    $('model-info').textContent = `Loaded in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
      `${info.modelType} weights, hidden size ${info.hiddenSize}, ${info.threads} thread(s), window ${info.maxLength} tokens.`;
    fillOptions(info);
    $('embed-button').disabled = false;
  } catch (err) {
    showError('model-error', err);
    $('progress-area').hidden = true;
  } finally {
    $('load-button').disabled = false;
  }
});

function fillOptions(info) {
  const task = $('task');
  task.length = 1;
  for (const t of info.tasks) task.add(new Option(t, t));
  const dims = $('dimensions');
  dims.length = 0;
  const sizes = [...new Set([...info.dimensions, info.hiddenSize])].sort((a, b) => a - b);
  for (const d of sizes) dims.add(new Option(String(d), String(d), d === info.hiddenSize, d === info.hiddenSize));
}

$('embed-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  showError('embed-error', null);
  const texts = $('texts').value.split('\n').filter((t) => t.trim() !== '');
  if (!model) return showError('embed-error', new Error('load a model first'));
  if (texts.length === 0) return showError('embed-error', new Error('enter at least one text'));
  $('embed-button').disabled = true;
  try {
    const task = $('task').value || null;
    const dimensions = Number($('dimensions').value);
    const counts = await model.countTokens(texts, { task, truncate: true });
    const started = performance.now();
    const res = await model.embed(texts, { task, dimensions, truncate: true });
    const ms = performance.now() - started;
    lastResult = { texts, task, dimensions, vectors: res.data.map((d) => Array.from(d.embedding)) };
    render(texts, counts, res, ms);
  } catch (err) {
    showError('embed-error', err);
  } finally {
    $('embed-button').disabled = false;
  }
});

function svg(tag, attrs, text) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Signed bars around a zero line, scaled to the largest |value| of the 8, with value labels. */
function barChart(values, title) {
  const w = 320, h = 160, mid = h / 2, half = mid - 22, slot = w / values.length;
  const scale = Math.max(...values.map(Math.abs)) || 1;
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': title });
  root.append(svg('title', {}, title));
  values.forEach((v, i) => {
    const len = (Math.abs(v) / scale) * half;
    const x = i * slot + slot * 0.2;
    root.append(svg('rect', { class: `bar ${v >= 0 ? 'pos' : 'neg'}`, x, y: v >= 0 ? mid - len : mid,
      width: slot * 0.6, height: len, 'data-index': i, 'data-value': v }));
    root.append(svg('text', { class: 'label', x: x + slot * 0.3, 'text-anchor': 'middle',
      y: v >= 0 ? mid - len - 4 : mid + len + 12 }, v.toFixed(3)));
  });
  root.append(svg('line', { class: 'axis', x1: 0, x2: w, y1: mid, y2: mid }));
  return root;
}

function render(texts, counts, res, ms) {
  $('results').hidden = false;
  const tokens = res.usage.total_tokens;
  $('run-stats').textContent = `${texts.length} text(s), ${tokens} tokens in ${ms.toFixed(0)} ms ` +
    `(${(tokens / (ms / 1000)).toFixed(0)} tokens/s) on ${model.info.threads} thread(s)` +
    (model.info.threads > 1 ? '' : ', single-threaded') + '.';
  const cards = $('cards');
  cards.replaceChildren();
  res.data.forEach((item, i) => {
    const card = document.createElement('article');
    card.className = 'card';
    const h = document.createElement('h3');
    h.textContent = texts[i];
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = `${counts[i]} tokens · ${item.embedding.length} dimensions`;
    const values = Array.from(item.embedding.subarray(0, BARS));
    card.append(h, p, barChart(values, `First ${BARS} dimensions of text ${i + 1}: ${values.map((v) => v.toFixed(3)).join(', ')}`));
    cards.append(card);
  });
  heatmap(texts, res.data.map((d) => d.embedding));
}

function cosine(a, b) {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

function heatmap(texts, vectors) {
  const table = $('heatmap');
  table.replaceChildren();
  const head = table.insertRow();
  head.append(Object.assign(document.createElement('th'), { textContent: '' }));
  texts.forEach((_, j) => head.append(Object.assign(document.createElement('th'), { scope: 'col', textContent: `#${j + 1}` })));
  vectors.forEach((a, i) => {
    const row = table.insertRow();
    row.append(Object.assign(document.createElement('th'), { scope: 'row', textContent: `#${i + 1}`, title: texts[i] }));
    vectors.forEach((b, j) => {
      const c = cosine(a, b);
      const cell = row.insertCell();
      cell.textContent = c.toFixed(3);
      cell.dataset.value = String(c);
      // Blue intensity for similarity, text dark or light for contrast.
      const t = Math.max(0, Math.min(1, (c + 1) / 2));
      cell.style.background = `rgba(11, 92, 173, ${t.toFixed(3)})`;
      cell.style.color = t > 0.55 ? '#fff' : '#1b1f24';
    });
  });
}

$('copy-button').addEventListener('click', async () => {
  if (!lastResult) return;
  const json = JSON.stringify(lastResult);
  try {
    await navigator.clipboard.writeText(json);
    $('copy-status').textContent = 'Copied.';
  } catch {
    $('copy-status').textContent = 'The clipboard is not available here; select the JSON below instead.';
  }
  let pre = $('json');
  if (!pre) {
    pre = Object.assign(document.createElement('pre'), { id: 'json', tabIndex: 0 });
    pre.className = 'scroll';
    $('results').append(pre);
  }
  pre.textContent = json;
});

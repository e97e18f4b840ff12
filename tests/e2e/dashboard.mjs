#!/usr/bin/env node
// End-to-end test of the dashboard: the built `streamsight` binary on
// 127.0.0.1 (a free port) with one test stream, Debian's headless Chromium
// driven over the DevTools protocol by playwright-core.
//
//   1. The page loads (no external requests), the stream's card shows its
//      state and top-3 labels, the labels keep changing (live events, or
//      polling on a server without them), the latency charts fill, the
//      snapshot shows when the server has snapshots.
//   2. The add form shows the API's 400 message for a bad URI, then adds a
//      camera (submitted with the keyboard); the card appears and the API
//      has the stream. Screenshots are saved: dashboard.png (desktop),
//      dashboard-phone.png (390 px wide), dashboard-dark.png (dark scheme),
//      dashboard-token.png (the token prompt).
//      The region editor: typed from the keyboard, drawn with the mouse,
//      reset to the whole frame, each saved (PATCH roi) and outlined.
//      The Teach panel: a classifier created from typed class names,
//      examples captured with the keyboard (thumbnails, counts), one
//      removed, trained: the cross-validated accuracy per class shown.
//      With a labelled model: an alert rule set through the API starts an
//      alert, listed with its class, state, stream and best frame.
//   3. Remove: cancelling the confirm keeps the stream, accepting removes it
//      (card gone, API 404).
//   4. With a token configured: the page asks for it, a wrong one is
//      refused, the right one brings the labels.
//   5. The server exits 0 on SIGTERM after each run.
//
// Run through `meson test dashboard` (sets SS_STREAMSIGHT_EXE,
// SS_SOURCE_ROOT, SS_E2E_OUT_DIR). Exits 77 (meson: skipped) with the reason
// when the binary, /usr/bin/chromium or node_modules (tests/e2e/install.sh)
// is missing. With STREAMSIGHT_TEST_DATA set, a real model gives real labels;
// without it, the golden fixture model (labels show as "class N").
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIP = 77;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_ROOT = process.env.SS_SOURCE_ROOT || path.resolve(HERE, '..', '..');
const CHROMIUM = process.env.SS_CHROMIUM || '/usr/bin/chromium';
const OUT_DIR = process.env.SS_E2E_OUT_DIR || os.tmpdir();
const TOKEN = 'e2e-Secret-token-42';
const SECRET = 'Camera%40pw-91';  // a camera password: never on the page
// The whole test; CI's meson timeout is larger.
const DEADLINE_MS = 150 * 1000;
const T0 = Date.now();

function skip(msg) {
  console.log(`SKIP: ${msg}`);
  process.exit(SKIP);
}

function log(msg) {
  console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
}

let passed = 0;
function ok(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
  passed++;
  log(`ok ${passed} - ${msg}`);
}

const exe = process.env.SS_STREAMSIGHT_EXE;
if (!exe) skip('SS_STREAMSIGHT_EXE is not set (run through `meson test dashboard`)');
if (!fs.existsSync(exe)) skip(`${exe} does not exist (build first)`);
if (!fs.existsSync(CHROMIUM)) {
  skip(`${CHROMIUM} not found: apt-get install chromium (scripts/install-deps.sh --test)`);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  skip('playwright-core is not installed in tests/e2e/node_modules: run bash tests/e2e/install.sh');
}

// ---- the model ----

function pickModel() {
  const data = process.env.STREAMSIGHT_TEST_DATA;
  if (data) {
    // Small and quantised: quick even in the sanitizer build.
    const model = path.join(data, 'models', 'mobilenet_v1_0.25_128_quant.tflite');
    const labels = path.join(data, 'models', 'labels.txt');
    if (fs.existsSync(model) && fs.existsSync(labels)) return { model, labels, real: true };
    log(`no ${model}: using the fixture model`);
  } else {
    log('STREAMSIGHT_TEST_DATA is unset: fixture model, labels show as "class N"');
  }
  return {
    model: path.join(SOURCE_ROOT, 'tests', 'fixtures', 'golden', 'mobilenet_v2_0.25_64.safetensors'),
    labels: null,
    real: false,
  };
}

// ---- the server ----

class Server {
  constructor(configPath, env) {
    this.configPath = configPath;
    this.env = env;
    this.stdout = '';
    this.stderr = '';
    this.exit = null;
  }

  start() {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('STREAMSIGHT_') && k !== 'STREAMSIGHT_TEST_DATA') delete env[k];
    Object.assign(env, { STREAMSIGHT_THREADS: '1' }, this.env);
    this.proc = spawn(exe, ['serve', '--config', this.configPath, '--port', '0'], {
      env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `no "listening" line within 30 s; stderr:\n${this.stderr}`)), 30000);
      this.proc.stdout.on('data', (d) => {
        this.stdout += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(this.stdout);
        if (m && !this.url) {
          clearTimeout(timer);
          this.url = m[1];
          resolve(this.url);
        }
      });
      this.exited.then((x) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${JSON.stringify(x)}) before listening; stderr:\n${this.stderr}`));
      });
    });
  }

  async stop() {
    if (this.exit) return this.exit;
    this.proc.kill('SIGTERM');
    const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 30000));
    const x = await Promise.race([this.exited, timeout]);
    if (!x) {
      this.proc.kill('SIGKILL');
      throw new Error('server did not exit within 30 s of SIGTERM');
    }
    return x;
  }

  async api(method, p, body, token) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body) headers['Content-Type'] = 'application/json';
    const res = await fetch(new URL(p, this.url), {
      method, headers, body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
  }

  // What this server offers beyond the base API (the SSE and snapshot
  // routes arrive separately): {events, snapshot}.
  async features(streamId, token) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), 5000);
    let events = false;
    try {
      const res = await fetch(new URL('/api/v1/events', this.url), { headers, signal: ctrl.signal });
      events = res.ok && (res.headers.get('content-type') || '').startsWith('text/event-stream');
    } catch (e) {
      // no headers within 5 s: treated as no event stream
    } finally {
      clearTimeout(timer);
      ctrl.abort();
    }
    // 404/503 until the first frame; 404 "no such route" on a server
    // without snapshots.
    let snapshot = false;
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      const res = await fetch(new URL(`/api/v1/streams/${streamId}/snapshot.jpg`, this.url), { headers });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.ok && res.headers.get('content-type') === 'image/jpeg') {
        snapshot = true;
        break;
      }
      if (res.status === 404 && body.toString().includes('no such route')) break;
      if (res.status !== 404 && res.status !== 503) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    return { events, snapshot };
  }
}

function writeConfig(dir, m, streams) {
  const cfg = {
    comment: 'written by tests/e2e/dashboard.mjs',
    bind: '127.0.0.1',
    port: 0,
    threads: 1,
    model: m.model,
    streams,
  };
  if (m.labels) cfg.labels = m.labels;
  const p = path.join(dir, 'streamsight.json');
  fs.writeFileSync(p, JSON.stringify(cfg, null, 2), { mode: 0o600 });
  return p;
}

// ---- the browser ----

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

async function newPage(browser, server, viewport) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.errors = [];
  page.foreign = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') log(`  console: ${m.text()}`);
  });
  // Every request must go to the server itself (no CDN, no fonts).
  const origin = new URL(server.url).origin;
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:')) page.foreign.push(u);
  });
  return page;
}

async function shot(page, name, fullPage = true) {
  const p = path.join(OUT_DIR, name);
  await page.screenshot({ path: p, fullPage });
  log(`screenshot ${p}`);
  return p;
}

const card = (page, id) => page.locator(`li.card[data-stream-id="${id}"]`);

async function labelTexts(page, id) {
  return card(page, id).locator('.labels li:not([hidden]) .label-name').allTextContents();
}

// Stops the server (SIGTERM) and checks that it exits with status 0; a
// failure carries the server, whose log is then printed.
async function stopChecked(server) {
  const x = await server.stop();
  try {
    ok(x.code === 0, `server exit status 0 after SIGTERM (${JSON.stringify(x)})`);
  } catch (e) {
    throw Object.assign(e, { server });
  }
}

// ---- run 1: no token ----

async function runOpen(browser, m, tmp) {
  const dir = fs.mkdtempSync(path.join(tmp, 'open-'));
  const cfg = writeConfig(dir, m, [
    { id: 'cam-e2e', name: 'Test pattern', uri: 'test:', max_fps: 4 },
    // Nothing listens on port 9: the stream keeps failing and retrying.
    {
      id: 'cam-down', name: 'Yard (offline)', uri: `rtsp://admin:${SECRET}@127.0.0.1:9/live`,
      backoff_initial_s: 0.5, backoff_max_s: 2,
    },
  ]);
  const server = new Server(cfg, {});
  await server.start();
  log(`server ${server.url}`);
  try {
    const page = await newPage(browser, server, { width: 1280, height: 900 });

    const res = await page.goto(server.url);
    ok(res.status() === 200 && res.headers()['content-type'].startsWith('text/html'),
      'GET / answers 200 text/html');
    ok(/default-src 'none'/.test(res.headers()['content-security-policy'] || ''),
      'the page is served with a Content-Security-Policy');
    ok(await page.title() === 'streamsight', 'title');
    await page.keyboard.press('Tab');
    ok(await page.evaluate(() => document.activeElement.className) === 'skip-link',
      'Tab reaches the skip link first');

    const c = card(page, 'cam-e2e');
    await c.waitFor({ timeout: 10000 });
    ok(await c.locator('h3').textContent() === 'Test pattern', 'the stream card shows the name');
    await c.locator('.state[data-state="running"]').waitFor({ timeout: 20000 });
    ok((await c.locator('.state').textContent()) === 'Running', 'state text "Running" (not colour alone)');

    await c.locator('.labels li:not([hidden]) .label-name').first().waitFor({ timeout: 30000 });
    const labels = await labelTexts(page, 'cam-e2e');
    ok(labels.length === 3, `three labels shown: ${JSON.stringify(labels)}`);
    if (m.real) ok(!labels.some((l) => /^class \d+$/.test(l)), 'real model: labels are names');
    else ok(labels.every((l) => /^class \d+$/.test(l)), 'fixture model: labels are "class N"');
    const scores = await c.locator('.labels li:not([hidden]) .label-score').allTextContents();
    ok(scores.every((s) => /^\d{1,3}\.\d %$/.test(s)), `scores as percentages: ${scores}`);
    const fills = await c.locator('.labels li:not([hidden]) .bar-fill').evaluateAll(
      (els) => els.map((e) => e.getBoundingClientRect().width));
    ok(fills[0] > 0 && fills[0] >= fills[1] && fills[1] >= fills[2],
      `score bars drawn, best first (${fills.map((w) => w.toFixed(1))} px)`);

    // The failing camera: state in words, its error, never its password.
    const down = card(page, 'cam-down');
    await down.locator('.state[data-state="backoff"]').waitFor({ timeout: 15000 });
    ok(await down.locator('.state').textContent() === 'Reconnecting', 'a failing camera shows "Reconnecting"');
    await down.locator('.last-error:not([hidden])').waitFor({ timeout: 10000 });
    ok(/^Last error: /.test(await down.locator('.last-error').textContent()),
      `its last error is shown: "${await down.locator('.last-error').textContent()}"`);
    ok(await down.locator('.uri').textContent() === 'rtsp://***@127.0.0.1:9/live', 'its URI is shown redacted');
    const html = await page.content();
    ok(!html.includes('Camera%40pw') && !html.includes('Camera@pw'), 'the camera password is nowhere on the page');

    const features = await server.features('cam-e2e');
    log(`server features: ${JSON.stringify(features)}`);
    if (features.events) {
      await page.locator('#conn[data-conn="live"]').waitFor({ timeout: 15000 });
      ok(true, 'connection status "Live" (event stream)');
    } else {
      await page.locator('#conn[data-conn="polling"]').waitFor({ timeout: 15000 });
      ok(true, 'connection status "Polling" (this server has no event stream)');
    }
    const seq0 = Number(await c.locator('.labels').getAttribute('data-seq'));
    await page.waitForFunction(
      ([sel, s0]) => Number(document.querySelector(sel).dataset.seq) >= s0 + 3,
      ['li.card[data-stream-id="cam-e2e"] .labels', seq0], { timeout: 15000 });
    ok(true, `predictions keep arriving (seq ${seq0} -> ${await c.locator('.labels').getAttribute('data-seq')})`);

    await page.waitForFunction(() => [...document.querySelectorAll('.chart .summary')]
      .every((e) => e.textContent.startsWith('last ')), null, { timeout: 10000 });
    const summaries = await page.locator('.chart .summary').allTextContents();
    ok(summaries.length === 4, `four latency charts: ${summaries.join(' | ')}`);
    const inked = await page.locator('.chart[data-stage="infer"] canvas').evaluate((cv) => {
      const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      return n;
    });
    ok(inked > 500, `the inference chart is drawn (${inked} pixels)`);
    ok((await page.locator('.chart[data-stage="e2e"] canvas').getAttribute('aria-label')).includes('median'),
      'the chart canvas has a text alternative');

    if (features.snapshot) {
      await c.locator('.snap-img:not([hidden])').waitFor({ timeout: 15000 });
      const nat = await c.locator('.snap-img').evaluate((img) => [img.naturalWidth, img.naturalHeight]);
      ok(nat[0] > 0 && nat[1] > 0, `the snapshot is shown (${nat[0]}x${nat[1]})`);
    } else {
      await c.locator('.snap').waitFor({ state: 'hidden', timeout: 10000 });
      ok(!(await c.locator('.snap-img').isVisible()), 'no snapshot route: the picture area is hidden');
    }

    // -- add: the API's error first, then a good one from the keyboard --
    await page.getByLabel('Name', { exact: true }).fill('Door camera');
    await page.getByLabel('URI', { exact: true }).fill('ftp://camera.invalid/stream');
    await page.getByLabel('Max fps', { exact: true }).fill('2');
    await page.getByRole('button', { name: 'Add camera' }).click();
    const err = page.locator('#add-error');
    await page.waitForFunction(() => document.getElementById('add-error').textContent !== '', null,
      { timeout: 5000 });
    const errText = await err.textContent();
    ok(/uri: unsupported scheme 'ftp'/.test(errText), `400 message shown: "${errText}"`);
    ok(await page.getByLabel('URI', { exact: true }).getAttribute('aria-invalid') === 'true', 'the URI field is marked invalid');
    ok(await err.getAttribute('role') === 'alert', 'the error is announced (role=alert)');

    // Record every announcement: the new stream's state changes (starting ->
    // running) are announced too and can replace "Added ..." within
    // milliseconds, so reading the live region once afterwards races.
    await page.evaluate(() => {
      window.__announced = [];
      const el = document.getElementById('announce');
      new MutationObserver(() => window.__announced.push(el.textContent))
        .observe(el, { childList: true, characterData: true, subtree: true });
    });
    await page.getByLabel('URI', { exact: true }).fill('test:');
    await page.getByLabel('URI', { exact: true }).press('Enter');
    const c2 = page.locator('li.card', { has: page.locator('h3', { hasText: 'Door camera' }) });
    await c2.waitFor({ timeout: 10000 });
    ok(await err.textContent() === '', 'no error after a good submission');
    ok(await page.getByLabel('Name', { exact: true }).inputValue() === '', 'the form is cleared');
    const id2 = await c2.getAttribute('data-stream-id');
    const got = await server.api('GET', `/api/v1/streams/${id2}`);
    ok(got.status === 200 && got.json.uri === 'test:' && got.json.max_fps === 2,
      `the API has the new stream ${id2} (max_fps ${got.json && got.json.max_fps})`);
    ok(await page.locator('#stream-count').textContent() === '(3)', 'count shows 3 streams');
    ok(await page.waitForFunction(
      () => window.__announced.some((t) => t.includes('Added stream Door camera')),
      null, { timeout: 5000 }).then(() => true, () => false),
    'the addition is announced (aria-live)');

    // Both streams with labels and two lines in the charts, then pictures.
    await c2.locator('.labels li:not([hidden]) .label-name').first().waitFor({ timeout: 30000 });
    if (features.snapshot) await c2.locator('.snap-img:not([hidden])').waitFor({ timeout: 15000 });

    // -- region of interest: typed with the keyboard, then drawn with the
    // mouse; each saved with PATCH and outlined over the picture --
    const roiBtn = c.getByRole('button', { name: 'Region of interest of Test pattern' });
    ok(await roiBtn.getAttribute('aria-expanded') === 'false', 'a "Region…" button per stream');
    await roiBtn.focus();
    await page.keyboard.press('Enter');
    const roiForm = c.locator('.roi-form');
    await roiForm.waitFor({ state: 'visible', timeout: 5000 });
    ok(await roiBtn.getAttribute('aria-expanded') === 'true', 'the region editor opens from the keyboard');
    ok(await page.evaluate(() => document.activeElement.name) === 'x', 'focus moves to its first field');
    for (const [k, v] of [['x', '25'], ['y', '10'], ['w', '50'], ['h', '80']]) {
      await c.locator(`.roi-form input[name="${k}"]`).fill(v);
    }
    await c.locator('.roi-form input[name="h"]').press('Enter');
    await roiForm.waitFor({ state: 'hidden', timeout: 5000 });
    let roiNow = (await server.api('GET', '/api/v1/streams/cam-e2e')).json.roi;
    ok(roiNow && Math.abs(roiNow.x - 0.25) < 1e-6 && Math.abs(roiNow.y - 0.1) < 1e-6 &&
      Math.abs(roiNow.w - 0.5) < 1e-6 && Math.abs(roiNow.h - 0.8) < 1e-6,
    `the typed region is saved (PATCH roi: ${JSON.stringify(roiNow)})`);
    const boxFrac = async () => c.locator('.roi-box').evaluate((b) => {
      const s = b.parentElement.getBoundingClientRect();
      const r = b.getBoundingClientRect();
      return [(r.left - s.left) / s.width, (r.top - s.top) / s.height, r.width / s.width, r.height / s.height];
    });
    ok(await c.locator('.roi-box').isVisible(), 'the region is outlined over the picture');
    const bf = await boxFrac();
    ok(Math.abs(bf[0] - 0.25) < 0.03 && Math.abs(bf[2] - 0.5) < 0.03,
      `the outline sits where the region is (${bf.map((v) => v.toFixed(3))})`);
    ok(await page.evaluate(() => document.activeElement.classList.contains('roi-edit')),
      'focus returns to the Region button');
    // The mouse: drag from 10 %,20 % to 60 %,70 % of the picture.
    await roiBtn.click();
    await c.locator('.snap').scrollIntoViewIfNeeded();
    const sb = await c.locator('.snap').boundingBox();
    await page.mouse.move(sb.x + sb.width * 0.1, sb.y + sb.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(sb.x + sb.width * 0.35, sb.y + sb.height * 0.45, { steps: 4 });
    await page.mouse.move(sb.x + sb.width * 0.6, sb.y + sb.height * 0.7, { steps: 4 });
    await page.mouse.up();
    const typed = await c.locator('.roi-form input[name="w"]').inputValue();
    ok(Math.abs(Number(typed) - 50) < 1.5, `dragging fills the fields (width ${typed} %)`);
    await c.getByRole('button', { name: 'Save region' }).click();
    await roiForm.waitFor({ state: 'hidden', timeout: 5000 });
    roiNow = (await server.api('GET', '/api/v1/streams/cam-e2e')).json.roi;
    ok(Math.abs(roiNow.x - 0.1) < 0.015 && Math.abs(roiNow.y - 0.2) < 0.015 &&
      Math.abs(roiNow.w - 0.5) < 0.015 && Math.abs(roiNow.h - 0.5) < 0.015,
    `the drawn region is saved (${JSON.stringify(roiNow)})`);
    await c.locator('.snap').screenshot({ path: path.join(OUT_DIR, 'dashboard-roi.png') });
    await roiBtn.click();
    await c.getByRole('button', { name: 'Whole frame' }).click();
    await roiForm.waitFor({ state: 'hidden', timeout: 5000 });
    roiNow = (await server.api('GET', '/api/v1/streams/cam-e2e')).json.roi;
    ok(roiNow.x === 0 && roiNow.y === 0 && roiNow.w === 1 && roiNow.h === 1,
      '"Whole frame" resets the region');
    ok(await c.locator('.roi-box').isHidden(), 'no outline for the whole frame');

    // -- the Teach panel: create a classifier, capture examples of each
    // class from the keyboard, remove one, train, read the accuracy --
    const teachBtn = c.getByRole('button', { name: 'Teach Test pattern' });
    await teachBtn.focus();
    await page.keyboard.press('Enter');
    const teach = c.locator('section.teach');
    await teach.waitFor({ state: 'visible', timeout: 5000 });
    ok(await teachBtn.getAttribute('aria-expanded') === 'true', 'the Teach panel opens from the keyboard');
    const clsField = teach.getByLabel('Classes (comma-separated)');
    await clsField.waitFor({ timeout: 5000 });
    ok(await page.evaluate(() => document.activeElement.name) === 'classes', 'focus is on the class names');
    await page.keyboard.type('bars, noise');
    await page.keyboard.press('Enter');
    const capBars = teach.locator('button.teach-capture[data-cls="bars"]');
    await capBars.waitFor({ timeout: 10000 });
    const head = await server.api('GET', '/api/v1/heads/cam-e2e');
    ok(head.status === 200 && JSON.stringify(head.json.classes) === '["bars","noise"]',
      `a classifier with the two classes is created (${JSON.stringify(head.json && head.json.classes)})`);
    ok(await page.evaluate(() => document.activeElement.dataset.cls) === 'bars',
      'focus moves to the first capture button');
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Enter');
      await teach.locator(`.teach-thumb`).nth(i).waitFor({ timeout: 15000 });
    }
    await teach.locator('button.teach-capture[data-cls="noise"]').focus();
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Enter');
      await teach.locator(`.teach-thumb`).nth(3 + i).waitFor({ timeout: 15000 });
    }
    ok(await teach.locator('.teach-thumb').count() === 6, 'six examples captured, six thumbnails');
    await teach.locator('.teach-thumb img').first().evaluate((img) => img.complete || new Promise((r) => { img.onload = r; }));
    const tw = await teach.locator('.teach-thumb img').first().evaluate((img) => img.naturalWidth);
    ok(tw > 0, `the thumbnails show the kept JPEGs (${tw} px wide)`);
    ok((await teach.locator('button.teach-capture[data-cls="noise"]').getAttribute('aria-label')) === 'Capture as noise (3 examples)',
      'the capture buttons count the examples');
    const firstRemove = teach.getByRole('button', { name: /^Remove example \S+ \(noise\)$/ }).first();
    await firstRemove.click();
    await page.waitForFunction(() => document.querySelectorAll('li.card[data-stream-id="cam-e2e"] .teach-thumb').length === 5,
      null, { timeout: 10000 });
    const exs = await server.api('GET', '/api/v1/heads/cam-e2e/examples');
    ok(exs.json.examples.length === 5, 'removing a thumbnail deletes the example (5 left)');
    await teach.getByRole('button', { name: 'Train' }).click();
    await page.waitForFunction(() => /^Cross-validated accuracy \d/.test(
      document.querySelector('li.card[data-stream-id="cam-e2e"] .teach-report').textContent), null, { timeout: 20000 });
    const rep = await teach.locator('.teach-report').textContent();
    ok(/bars \d+\.\d %, noise \d+\.\d %/.test(rep), `Train shows the cross-validated accuracy: "${rep}"`);
    ok((await server.api('GET', '/api/v1/streams/cam-e2e')).json.head === 'cam-e2e',
      'the stream uses the new classifier (PATCH head)');
    await page.waitForFunction(() => document.querySelectorAll(
      'li.card[data-stream-id="cam-e2e"] .teach-scores li').length === 2, null, { timeout: 15000 });
    const live = (await teach.locator('.teach-scores .label-name').allTextContents()).sort();
    ok(JSON.stringify(live) === '["bars","noise"]', `the classifier's live scores are shown (${live})`);
    await c.screenshot({ path: path.join(OUT_DIR, 'dashboard-teach.png') });
    await teachBtn.click();
    await teach.waitFor({ state: 'hidden', timeout: 5000 });
    ok(true, 'the Teach panel closes');

    // -- alerts: a rule on the label the test stream shows starts an alert,
    // listed with its best frame (needs a model with labels) --
    if (m.real) {
      const top = (await labelTexts(page, 'cam-e2e'))[0];
      const r = await server.api('PATCH', '/api/v1/streams/cam-e2e', {
        alerts: [{ class: top, min_score: 0.01, min_duration_s: 0, clear_after_s: 60 }],
      });
      ok(r.status === 200 && r.json.alerts.length === 1 && r.json.alerts[0].class === top,
        `an alert rule on "${top}" (PATCH alerts)`);
      const item = page.locator('#alerts li.alert').first();
      await item.waitFor({ timeout: 20000 });
      ok(await item.locator('.alert-class').textContent() === top, 'the alert is listed with its class');
      ok(await item.locator('.alert-state').textContent() === 'Active', 'its state in words: "Active"');
      ok((await item.locator('.alert-stream').textContent()).includes('Test pattern'),
        'it names the stream');
      await item.locator('.alert-snap img:not([hidden])').waitFor({ timeout: 15000 });
      const nat = await item.locator('.alert-snap img').evaluate((i) => [i.naturalWidth, i.alt]);
      ok(nat[0] > 0 && nat[1].includes(top), `its best frame is shown (${nat[0]} px wide, alt "${nat[1]}")`);
      ok(await page.locator('#alerts-empty').isHidden(), 'the "no alerts" text is gone');
      await page.locator('#alerts-panel').screenshot({ path: path.join(OUT_DIR, 'dashboard-alerts.png') });
    } else {
      log('fixture model without labels: the alerts part is skipped');
    }

    // -- the cameras' errors told apart, each with its hint: a wrong
    // password (401), a wrong path (404), nothing listening (refused) --
    await down.locator('.error-hint[data-kind="unreachable"]:not([hidden])').waitFor({ timeout: 10000 });
    ok(/unreachable/i.test(await down.locator('.error-hint').textContent()),
      `refused: "${await down.locator('.error-hint').textContent()}"`);
    ok(/unreachable/i.test(await down.locator('.snap-msg').textContent()),
      `refused: picture area "${await down.locator('.snap-msg').textContent()}"`);
    const fake = http.createServer((req, res) => {
      if (req.url.startsWith('/auth')) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="cam"' });
      } else {
        res.writeHead(404);
      }
      res.end();
    });
    await new Promise((r) => fake.listen(0, '127.0.0.1', r));
    const fakeBase = `http://127.0.0.1:${fake.address().port}`;
    try {
      for (const [id, name, p, kind, re] of [
        ['cam-401', 'Porch (wrong password)', '/auth/video.mjpg', 'unauthorized', /password/i],
        ['cam-404', 'Gate (wrong path)', '/no/such/stream', 'not_found', /path/i],
      ]) {
        const r = await server.api('POST', '/api/v1/streams', {
          id, name, uri: fakeBase + p, backoff_initial_s: 0.5, backoff_max_s: 2,
        });
        ok(r.status === 201, `added ${id} (${r.status})`);
        const k = card(page, id);
        await k.locator(`.error-hint[data-kind="${kind}"]:not([hidden])`).waitFor({ timeout: 20000 });
        const hint = await k.locator('.error-hint').textContent();
        ok(re.test(hint), `${kind}: the hint says what to check: "${hint}"`);
        const msg = await k.locator('.snap-msg').textContent();
        ok(!/unreachable/i.test(msg) && re.test(msg), `${kind}: picture area "${msg}"`);
        ok((await server.api('GET', `/api/v1/streams/${id}`)).json.error_kind === kind,
          `${kind}: the API's error_kind`);
        await server.api('DELETE', `/api/v1/streams/${id}`);
        await k.waitFor({ state: 'detached', timeout: 10000 });
      }
    } finally {
      fake.close();
    }

    // -- enable/disable and max_fps from the card --
    const en = c.getByRole('checkbox', { name: 'Enabled: Test pattern' });
    ok(await en.isChecked(), 'the stream shows as enabled');
    await en.uncheck();
    await c.locator('.state', { hasText: 'Disabled' }).waitFor({ timeout: 10000 });
    ok((await server.api('GET', '/api/v1/streams/cam-e2e')).json.enabled === false,
      'unchecking disables it (PATCH enabled: false)');
    await en.check();
    await c.locator('.state[data-state="running"]').waitFor({ timeout: 20000 });
    ok((await server.api('GET', '/api/v1/streams/cam-e2e')).json.enabled === true,
      'checking enables it again, and it runs');
    const fpsIn = c.getByLabel('Max fps of Test pattern', { exact: true });
    ok(await fpsIn.inputValue() === '4', `max fps shown: ${await fpsIn.inputValue()}`);
    await fpsIn.fill('2.5');
    await fpsIn.press('Enter');
    let fpsNow = null;
    for (let i = 0; i < 50 && fpsNow !== 2.5; i++) {
      fpsNow = (await server.api('GET', '/api/v1/streams/cam-e2e')).json.max_fps;
      if (fpsNow !== 2.5) await page.waitForTimeout(100);
    }
    ok(fpsNow === 2.5, `Enter in the max fps field saves it (PATCH max_fps: ${fpsNow})`);
    await fpsIn.fill('5000');
    await c.getByRole('button', { name: 'Set max fps of Test pattern' }).click();
    ok((await server.api('GET', '/api/v1/streams/cam-e2e')).json.max_fps === 2.5,
      'an out-of-range value is not sent');

    await page.waitForTimeout(1500);
    await shot(page, 'dashboard.png');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(500);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    ok(overflow <= 0, `no horizontal scrolling at phone width (overflow ${overflow} px)`);
    await shot(page, 'dashboard-phone.png');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForTimeout(1200); // a chart redraw picks up the colours
    await shot(page, 'dashboard-dark.png');
    await page.emulateMedia({ colorScheme: 'light' });

    // -- remove: cancel keeps it, accept removes it --
    const removeBtn = page.getByRole('button', { name: 'Remove Door camera' });
    page.once('dialog', (d) => d.dismiss());
    await removeBtn.click();
    await page.waitForTimeout(300);
    ok(await c2.count() === 1 && (await server.api('GET', `/api/v1/streams/${id2}`)).status === 200,
      'cancelling the confirm keeps the stream');
    let confirmText = '';
    page.once('dialog', (d) => {
      confirmText = d.message();
      d.accept();
    });
    await removeBtn.click();
    await c2.waitFor({ state: 'detached', timeout: 10000 });
    ok(confirmText.includes('Door camera'), 'the confirm names the stream');
    ok((await server.api('GET', `/api/v1/streams/${id2}`)).status === 404, 'the API no longer has it');
    ok(await page.evaluate(() => document.activeElement.id) === 'streams-heading',
      'focus moves to the streams heading');
    await page.waitForTimeout(3500); // one list refresh: the card stays gone
    ok(await c2.count() === 0 && await page.locator('li.card').count() === 2,
      'after a list refresh: the two configured streams only');

    ok(page.errors.length === 0, `no uncaught page errors ${JSON.stringify(page.errors)}`);
    ok(page.foreign.length === 0, `no request leaves the server ${JSON.stringify(page.foreign)}`);
    await page.context().close();
  } catch (e) {
    throw Object.assign(e, { server });
  } finally {
    await stopChecked(server);
  }
}

// ---- run 2: with a token ----

async function runToken(browser, m, tmp) {
  const dir = fs.mkdtempSync(path.join(tmp, 'token-'));
  const cfg = writeConfig(dir, m, [
    { id: 'cam-tok', name: 'Token camera', uri: 'test:', max_fps: 4 },
  ]);
  const server = new Server(cfg, { STREAMSIGHT_TOKEN: TOKEN });
  await server.start();
  log(`server ${server.url} (token)`);
  try {
    ok((await server.api('GET', '/api/v1/streams')).status === 401, 'the API answers 401 without the token');
    const page = await newPage(browser, server, { width: 1000, height: 800 });
    const res = await page.goto(server.url);
    ok(res.status() === 200, 'the page itself loads without the token');
    await page.locator('#auth:not([hidden])').waitFor({ timeout: 10000 });
    ok(await page.locator('#conn').textContent() === 'Token required', 'status says a token is required');
    await shot(page, 'dashboard-token.png', false);

    await page.getByLabel('Access token', { exact: true }).fill('wrong-token');
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.waitForFunction(() => document.getElementById('auth-error').textContent.includes('refused'),
      null, { timeout: 10000 });
    ok(true, 'a wrong token is refused with a message');

    await page.getByLabel('Access token', { exact: true }).fill(TOKEN);
    await page.getByLabel('Access token', { exact: true }).press('Enter');
    await page.locator('#auth').waitFor({ state: 'hidden', timeout: 10000 });
    const c = card(page, 'cam-tok');
    await c.locator('.labels li:not([hidden]) .label-name').first().waitFor({ timeout: 30000 });
    ok(true, 'with the token, the labels appear');
    ok(await page.evaluate(() => sessionStorage.getItem('streamsight.token')) === TOKEN,
      'the token is kept in sessionStorage');
    const features = await server.features('cam-tok', TOKEN);
    if (features.events) {
      await page.locator('#conn[data-conn="live"]').waitFor({ timeout: 15000 });
      ok(true, 'live events with the token in the Authorization header');
    }
    if (features.snapshot) {
      await c.locator('.snap-img:not([hidden])').waitFor({ timeout: 15000 });
      ok(true, 'the snapshot loads with the token');
    }
    await page.reload();
    await c.locator('.labels li:not([hidden]) .label-name').first().waitFor({ timeout: 30000 });
    ok(await page.locator('#auth').isHidden(), 'after a reload the stored token is used');
    ok(page.errors.length === 0, `no uncaught page errors ${JSON.stringify(page.errors)}`);
    await page.context().close();
  } catch (e) {
    throw Object.assign(e, { server });
  } finally {
    await stopChecked(server);
  }
}

// ---- main ----

const watchdog = setTimeout(() => {
  console.error(`FAIL: the test took longer than ${DEADLINE_MS / 1000} s`);
  process.exit(1);
}, DEADLINE_MS);

fs.mkdirSync(OUT_DIR, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'streamsight-e2e-'));
const m = pickModel();
log(`model ${m.model}`);
let browser;
let failed = false;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright-core gives the browser a fresh, empty user-data-dir of its
    // own (and removes it on close).
    args: CHROMIUM_ARGS,
  });
  log(`chromium ${browser.version()}`);
  await runOpen(browser, m, tmp);
  await runToken(browser, m, tmp);
} catch (e) {
  failed = true;
  console.error(`FAIL: ${e.stack || e}`);
  if (e.server) console.error(`server stderr (last 4000 chars):\n${e.server.stderr.slice(-4000)}`);
  if (browser) {
    for (const ctx of browser.contexts()) {
      for (const pg of ctx.pages()) {
        await pg.screenshot({ path: path.join(OUT_DIR, 'dashboard-failure.png'), fullPage: true })
          .then(() => log(`screenshot ${path.join(OUT_DIR, 'dashboard-failure.png')}`), () => {});
      }
    }
  }
} finally {
  if (browser) await browser.close();
  fs.rmSync(tmp, { recursive: true, force: true });
  clearTimeout(watchdog);
}
console.log(`${passed} passed, ${failed ? 1 : 0} failed`);
process.exit(failed ? 1 : 0);

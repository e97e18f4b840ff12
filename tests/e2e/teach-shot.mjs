#!/usr/bin/env node
// Makes docs/teach-dashboard.png, the README's picture of "Teach a camera":
// the built binary watching videos/one-by-one-person-detection.mp4 (from
// STREAMSIGHT_TEST_DATA) with a region on the walkway, a head "person" /
// "empty" taught from frames of the clip, an alert rule on "person", and
// the dashboard in headless Chromium with the Teach panel open once an
// alert is listed. Not a test: run by hand after changing the dashboard,
//   SS_STREAMSIGHT_EXE=build/server/streamsight STREAMSIGHT_TEST_DATA=... \
//     node tests/e2e/teach-shot.mjs docs/teach-dashboard.png
// then shrink the PNG (pngquant or `convert -colors 128`).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const exe = process.env.SS_STREAMSIGHT_EXE;
const data = process.env.STREAMSIGHT_TEST_DATA;
const out = process.argv[2] || 'teach-dashboard.png';
if (!exe || !data) throw new Error('set SS_STREAMSIGHT_EXE and STREAMSIGHT_TEST_DATA');
const video = path.join(data, 'videos', 'one-by-one-person-detection.mp4');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'teach-shot-'));
const fixture = JSON.parse(fs.readFileSync(new URL('../fixtures/person-intervals.json', import.meta.url)));
const roi = fixture.roi;

// Frames of the clip at the fixture's example times, as JPEG uploads.
const frames = path.join(tmp, 'frames');
fs.mkdirSync(frames);
execFileSync('gst-launch-1.0', ['-q', 'filesrc', `location=${video}`, '!', 'decodebin', '!',
  'videoconvert', '!', 'videorate', '!', 'video/x-raw,framerate=10/1', '!', 'jpegenc', '!',
  'multifilesink', `location=${frames}/f%04d.jpg`]);

const cfg = path.join(tmp, 'streamsight.json');
fs.writeFileSync(cfg, JSON.stringify({
  bind: '127.0.0.1', port: 0, threads: 2,
  model: path.join(data, 'models', 'mobilenet_v2_1.0_224_quant.tflite'),
  labels: path.join(data, 'models', 'labels.txt'),
  media_dirs: [path.dirname(video)],
  streams: [{ id: 'walkway', name: 'Walkway', uri: `file://${video}`, max_fps: 5, roi }],
}), { mode: 0o600 });
const srv = spawn(exe, ['serve', '--config', cfg, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve) => {
  let buf = '';
  srv.stdout.on('data', (d) => {
    buf += d;
    const m = /listening on (http:\/\/[^ ]+\/)/.exec(buf);
    if (m) resolve(m[1]);
  });
});
const api = async (method, p, body, type) => {
  const res = await fetch(new URL(p, url), {
    method, body, headers: body ? { 'Content-Type': type || 'application/json' } : {},
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
};
try {
  await api('POST', '/api/v1/heads', JSON.stringify({ id: 'walkway', classes: ['person', 'empty'] }));
  const roiQ = `${roi.x},${roi.y},${roi.w},${roi.h}`;
  for (const cls of ['person', 'empty']) {
    const times = fixture.examples[cls];
    for (const t of times) {
      const f = path.join(frames, `f${String(Math.round(t * 10)).padStart(4, '0')}.jpg`);
      await api('POST', `/api/v1/heads/walkway/examples?class=${cls}&roi=${roiQ}`, fs.readFileSync(f), 'image/jpeg');
    }
  }
  const rep = await api('POST', '/api/v1/heads/walkway/train');
  console.log(`trained: ${JSON.stringify(rep.cross_validation)}`);
  await api('PATCH', '/api/v1/streams/walkway', JSON.stringify({
    head: 'walkway', labels: 'both',
    alerts: [{ class: 'person', min_score: 0.6, min_duration_s: 1, clear_after_s: 2 }],
  }));
  const browser = await chromium.launch({
    executablePath: process.env.SS_CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
  await page.goto(url);
  const card = page.locator('li.card[data-stream-id="walkway"]');
  await card.locator('.snap-img:not([hidden])').waitFor({ timeout: 30000 });
  await card.getByRole('button', { name: 'Teach Walkway' }).click();
  await card.locator('.teach-thumb img').first().waitFor({ timeout: 10000 });
  // An alert, then a moment with a person at the table.
  await page.locator('#alerts li.alert .alert-snap img:not([hidden])').first().waitFor({ timeout: 120000 });
  await page.waitForFunction(() => {
    const s = document.querySelector('li.card[data-stream-id="walkway"] .teach-scores li .label-name');
    return s && s.textContent === 'person';
  }, null, { timeout: 120000 });
  await page.waitForTimeout(3000);
  await page.evaluate(() => document.querySelector('.latency').remove());
  await page.evaluate(() => document.querySelector('.add').remove());
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
  await browser.close();
} finally {
  srv.kill('SIGTERM');
}

// streamsight dashboard: the legend and the latency charts (canvas, the
// last 60 s of every stream).
import {
  $,
  DASHES,
  GAP_MS,
  N_SERIES,
  STAGE_NAMES,
  WINDOW_MS,
  app,
} from './core.js';
import { formatMs } from './cards.js';

// ---- legend and latency charts ----

export function readTheme() {
  const cs = getComputedStyle(document.documentElement);
  const v = (name) => cs.getPropertyValue(name).trim();
  const series = [];
  for (let i = 0; i < N_SERIES; i++) series.push(v(`--series-${i}`));
  app.theme = {
    text: v('--muted'), grid: v('--grid'), series,
    font: `12px ${getComputedStyle(document.body).fontFamily}`,
  };
}

export function renderLegend() {
  const ul = $('legend');
  ul.replaceChildren();
  if (!app.theme) readTheme();
  const NS = 'http://www.w3.org/2000/svg';
  for (const s of app.streams.values()) {
    const li = document.createElement('li');
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('width', '28');
    svg.setAttribute('height', '10');
    svg.setAttribute('aria-hidden', 'true');
    const line = document.createElementNS(NS, 'line');
    line.setAttribute('x1', '1');
    line.setAttribute('x2', '27');
    line.setAttribute('y1', '5');
    line.setAttribute('y2', '5');
    line.setAttribute('stroke', app.theme.series[s.color]);
    line.setAttribute('stroke-width', '2.5');
    const dash = DASHES[s.color];
    if (dash.length) line.setAttribute('stroke-dasharray', dash.join(' '));
    svg.append(line);
    const text = document.createElement('span');
    text.textContent = (s.info && s.info.name) || s.id;
    li.append(svg, text);
    ul.append(li);
  }
}

export function niceStep(range, ticks) {
  const raw = range / ticks;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const norm = raw / mag;
  const step = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  return step * mag;
}

export function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

export function scheduleDraw() {
  if (app.drawPending) return;
  app.drawPending = true;
  requestAnimationFrame(() => {
    app.drawPending = false;
    drawCharts();
  });
}

export function drawCharts() {
  if (document.hidden) return;
  if (!app.theme) readTheme();
  const now = Date.now();
  const from = now - WINDOW_MS;
  for (const s of app.streams.values()) {
    let k = 0;
    while (k < s.points.length && s.points[k].t < from - GAP_MS) k++;
    if (k) s.points.splice(0, k);
  }
  for (const fig of document.querySelectorAll('.chart')) {
    drawChart(fig, fig.dataset.stage, from, now);
  }
}

export function drawChart(fig, stage, from, now) {
  const canvas = fig.querySelector('canvas');
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (!w || !h) return;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const th = app.theme;

  // Values in the window, for the scale and the summary.
  const values = [];
  let latest = null;
  let nStreams = 0;
  for (const s of app.streams.values()) {
    let any = false;
    for (const p of s.points) {
      const v = p[stage];
      if (p.t < from || !isFinite(v)) continue;
      values.push(v);
      any = true;
      if (!latest || p.t > latest.t) latest = { t: p.t, v };
    }
    if (any) nStreams++;
  }
  const sorted = values.slice().sort((a, b) => a - b);
  const max = sorted.length ? sorted[sorted.length - 1] : 0;
  // Scale to the bulk of the data: a start-up spike would flatten the
  // rest. Higher points are drawn at the top edge; the summary gives the
  // true maximum.
  const p95 = sorted.length ? sorted[Math.floor((sorted.length - 1) * 0.95)] : 0;
  const span = Math.max(Math.min(max, p95 * 2) * 1.1, 0.1);
  const step = niceStep(span, 3);
  const top = Math.max(step, Math.ceil(span / step) * step);

  const padL = 44, padR = 8, padT = 8, padB = 20;
  const pw = w - padL - padR;
  const ph = h - padT - padB;
  const x = (t) => padL + ((t - from) / WINDOW_MS) * pw;
  const y = (v) => padT + ph - (Math.min(v, top) / top) * ph;

  ctx.font = th.font;
  ctx.lineWidth = 1;
  ctx.strokeStyle = th.grid;
  ctx.fillStyle = th.text;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  let digits = 0;
  while (digits < 3 && Math.abs(step * 10 ** digits - Math.round(step * 10 ** digits)) > 1e-6) digits++;
  for (let v = 0; v <= top + step / 2; v += step) {
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(padL, yy);
    ctx.lineTo(w - padR, yy);
    ctx.stroke();
    ctx.fillText(v.toFixed(digits), padL - 6, yy);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const sec of pw < 320 ? [60, 30, 0] : [60, 45, 30, 15, 0]) {
    const xx = x(now - sec * 1000);
    ctx.textAlign = sec === 0 ? 'right' : sec === 60 ? 'left' : 'center';
    ctx.fillText(sec === 0 ? 'now' : `−${sec} s`, xx, h - padB + 5);
  }

  ctx.save();
  ctx.beginPath();
  ctx.rect(padL, padT - 2, pw, ph + 4);
  ctx.clip();
  ctx.lineWidth = 2;
  ctx.lineJoin = 'round';
  for (const s of app.streams.values()) {
    const color = th.series[s.color];
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.setLineDash(DASHES[s.color]);
    ctx.beginPath();
    let prevT = -Infinity;
    let n = 0;
    let lone = null;
    for (const p of s.points) {
      const v = p[stage];
      if (!isFinite(v)) continue;
      if (p.t - prevT > GAP_MS) {
        if (n === 1 && lone) ctx.rect(lone[0] - 1.5, lone[1] - 1.5, 3, 3);
        ctx.moveTo(x(p.t), y(v));
        n = 1;
        lone = [x(p.t), y(v)];
      } else {
        ctx.lineTo(x(p.t), y(v));
        n++;
      }
      prevT = p.t;
    }
    if (n === 1 && lone) ctx.rect(lone[0] - 1.5, lone[1] - 1.5, 3, 3);
    ctx.stroke();
  }
  ctx.restore();
  ctx.setLineDash([]);

  const summary = fig.querySelector('.summary');
  let text;
  let label;
  if (!values.length) {
    text = 'no data';
    label = `${STAGE_NAMES[stage]} latency: no predictions in the last 60 seconds`;
  } else {
    text = `last ${formatMs(latest.v)} · median ${formatMs(median(sorted))} · max ${formatMs(max)} ms`;
    label = `${STAGE_NAMES[stage]} latency over the last 60 seconds: ` +
      `latest ${formatMs(latest.v)} ms, median ${formatMs(median(sorted))} ms, ` +
      `maximum ${formatMs(max)} ms, ${values.length} predictions from ` +
      `${nStreams} stream${nStreams === 1 ? '' : 's'}`;
  }
  if (summary.textContent !== text) summary.textContent = text;
  if (canvas.getAttribute('aria-label') !== label) canvas.setAttribute('aria-label', label);
}

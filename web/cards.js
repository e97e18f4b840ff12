// streamsight dashboard: one card per stream (state, picture, top labels,
// controls) and the predictions and snapshots that fill it.
import {
  $,
  BACKOFF_TEXT,
  ERROR_HINTS,
  HISTORY_LIMIT,
  N_SERIES,
  SNAPSHOT_INTERVAL_MS,
  STAGES,
  STATE_TEXT,
  TOP_N,
  WINDOW_MS,
  announce,
  api,
  app,
  authHeaders,
  errorFrom,
  requireAuth,
  streamPath,
} from './core.js';
import { patchStream, removeStream, scheduleListRefresh } from './stream-list.js';
import { scheduleDraw } from './charts.js';

// ---- stream cards ----

export function formatNumber(v, digits) {
  return typeof v === 'number' && isFinite(v) ? v.toFixed(digits) : '–';
}

export function formatMs(v) {
  if (typeof v !== 'number' || !isFinite(v)) return '–';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function pickColor() {
  for (let i = 0; i < N_SERIES; i++) {
    if (!app.colorsUsed.has(i)) {
      app.colorsUsed.add(i);
      return i;
    }
  }
  return app.streams.size % N_SERIES;
}

export function addStream(info) {
  const card = $('stream-card').content.firstElementChild.cloneNode(true);
  const q = (sel) => card.querySelector(sel);
  const s = {
    id: info.id,
    info: null,
    card,
    els: {
      name: q('.name'), state: q('.state'), snap: q('.snap'), img: q('.snap-img'),
      snapMsg: q('.snap-msg'), fpsIn: q('.fps-in'), fpsOut: q('.fps-out'), e2e: q('.e2e'),
      uri: q('.uri'), labels: q('.labels'), noLabels: q('.no-labels'),
      lastError: q('.last-error'), error: q('.card-error'), remove: q('.remove'),
      hint: q('.error-hint'), enabled: q('.enabled'), fpsForm: q('.fps-form'),
      maxFps: q('.max-fps'),
      article: q('article'),
    },
    color: pickColor(),
    points: [],          // {t, queue, preprocess, infer, e2e}, oldest first
    last: null,          // the last prediction shown
    snapTimer: 0,
    snapUrl: '',
    snapOk: false,
    gone: false,
  };
  card.dataset.streamId = info.id;
  const headingId = 'stream-' + Math.random().toString(36).slice(2, 10);
  s.els.name.id = headingId;
  s.els.article.setAttribute('aria-labelledby', headingId);
  for (let i = 0; i < TOP_N; i++) {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'label-name';
    const score = document.createElement('span');
    score.className = 'label-score';
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.setAttribute('aria-hidden', 'true');
    const fill = document.createElement('span');
    fill.className = 'bar-fill';
    bar.append(fill);
    li.append(name, score, bar);
    li.hidden = true;
    s.els.labels.append(li);
  }
  s.els.snap.hidden = app.noSnapshots;
  s.els.remove.addEventListener('click', () => removeStream(s));
  s.els.enabled.addEventListener('change', () =>
    patchStream(s, { enabled: s.els.enabled.checked }, s.els.enabled.checked ? 'enabled' : 'disabled'));
  s.els.fpsForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = Number(s.els.maxFps.value);
    if (!s.els.maxFps.checkValidity() || !Number.isFinite(v)) {
      s.els.error.textContent = 'Max fps: a number from 0 (no limit) to 1000.';
      return;
    }
    patchStream(s, { max_fps: v }, `max fps ${v}`);
  });
  s.els.img.addEventListener('load', () => {
    s.els.img.hidden = false;
    updateSnapMessage(s);
  });
  app.streams.set(info.id, s);
  loadHistory(s);
  // Spread the snapshot requests of many streams over the interval.
  s.snapTimer = setTimeout(() => refreshSnapshot(s), Math.random() * 500);
  return s;
}

export function updateStream(s, info) {
  const prev = s.info;
  s.info = info;
  const e = s.els;
  const name = info.name || info.id;
  if (!prev || prev.name !== info.name) {
    e.name.textContent = name;
    e.img.alt = `Latest frame from ${name}`;
    e.remove.setAttribute('aria-label', `Remove ${name}`);
    e.enabled.setAttribute('aria-label', `Enabled: ${name}`);
    e.maxFps.setAttribute('aria-label', `Max fps of ${name}`);
    e.fpsForm.querySelector('.fps-set').setAttribute('aria-label', `Set max fps of ${name}`);
  }
  const st = info.state || 'stopped';
  let text = STATE_TEXT[st] || st;
  if (st === 'stopped' && info.enabled === false) text = 'Disabled';
  if (e.state.textContent !== text) e.state.textContent = text;
  e.state.dataset.state = st;
  s.card.dataset.state = st;
  if (prev && prev.state !== st) announce(`${name}: ${text.toLowerCase()}`);
  e.fpsIn.textContent = formatNumber(info.fps_in, 1);
  e.fpsOut.textContent = formatNumber(info.fps_out, 1);
  e.uri.textContent = info.uri || '';
  const showError = info.last_error && st !== 'running';
  e.lastError.hidden = !showError;
  if (showError) e.lastError.textContent = `Last error: ${info.last_error}`;
  // What to do about it, from the server's reading of the error.
  const hint = showError ? ERROR_HINTS[info.error_kind] || '' : '';
  e.hint.hidden = !hint;
  e.hint.dataset.kind = showError ? info.error_kind || '' : '';
  if (e.hint.textContent !== hint) e.hint.textContent = hint;
  // The controls follow the server, but not while being edited.
  if (!e.enabled.disabled) e.enabled.checked = info.enabled !== false;
  if (document.activeElement !== e.maxFps && typeof info.max_fps === 'number') {
    e.maxFps.value = String(info.max_fps);
  }
  if (info.width > 0 && info.height > 0) {
    e.snap.style.aspectRatio = `${info.width} / ${info.height}`;
  }
  updateSnapMessage(s);
  // The region editor (roi.js) and the teach panel follow each card.
  document.dispatchEvent(new CustomEvent('streamsight:stream',
    { detail: { id: s.id, card: s.card, info } }));
}

// The text over the picture area: why there is no picture, or why the
// one shown is old.
export function updateSnapMessage(s) {
  const st = (s.info && s.info.state) || 'starting';
  const e = s.els;
  const why = BACKOFF_TEXT[s.info && s.info.error_kind] || 'Camera error';
  let text = '';
  if (!s.snapOk) {
    text = st === 'running' ? 'Waiting for a frame…'
      : st === 'backoff' ? `${why}; reconnecting…`
        : st === 'starting' ? 'Connecting…' : 'Stream stopped.';
  } else if (st !== 'running') {
    text = st === 'backoff' ? `Last frame; ${why.toLowerCase()}, reconnecting…`
      : st === 'starting' ? 'Last frame; connecting…' : 'Last frame; stream stopped.';
  }
  e.snap.classList.toggle('stale', s.snapOk && st !== 'running');
  // No picture and none coming soon: a short banner, not an empty frame.
  e.snap.classList.toggle('collapsed', !s.snapOk && (st === 'backoff' || st === 'stopped'));
  e.snapMsg.hidden = !text;
  if (e.snapMsg.textContent !== text) e.snapMsg.textContent = text;
}

export function dropStream(id) {
  const s = app.streams.get(id);
  if (!s) return;
  s.gone = true;
  clearTimeout(s.snapTimer);
  if (s.snapUrl) URL.revokeObjectURL(s.snapUrl);
  app.colorsUsed.delete(s.color);
  s.card.remove();
  app.streams.delete(id);
  document.dispatchEvent(new CustomEvent('streamsight:stream-removed', { detail: { id } }));
}

export function renderLabels(s, p) {
  const classes = Array.isArray(p.classes) ? p.classes : [];
  const items = s.els.labels.children;
  for (let i = 0; i < TOP_N; i++) {
    const li = items[i];
    const c = classes[i];
    li.hidden = !c;
    if (!c) continue;
    const label = c.label != null && c.label !== '' ? c.label : `class ${c.index}`;
    const score = Math.min(1, Math.max(0, Number(c.score) || 0));
    li.children[0].textContent = label;
    li.children[1].textContent = `${(score * 100).toFixed(1)} %`;
    li.children[2].firstElementChild.style.transform = `scaleX(${score})`;
  }
  s.els.labels.dataset.seq = String(p.seq);
  s.els.noLabels.hidden = classes.length > 0;
  if (!classes.length) s.els.noLabels.textContent = 'No classes in the last prediction.';
  const lat = p.latency_ms || {};
  s.els.e2e.textContent = typeof lat.e2e === 'number' ? `${formatMs(lat.e2e)} ms` : '–';
}

export function addPoint(s, t, lat) {
  if (!lat) return;
  const pt = { t };
  for (const k of STAGES) pt[k] = typeof lat[k] === 'number' ? lat[k] : NaN;
  const pts = s.points;
  // Keep time order (history may arrive after a live event).
  let i = pts.length;
  while (i > 0 && pts[i - 1].t > t) i--;
  pts.splice(i, 0, pt);
}

export function onPrediction(id, p) {
  const s = app.streams.get(id);
  if (!s) {
    // A stream this page has not listed yet (added elsewhere).
    scheduleListRefresh();
    return;
  }
  if (!p || typeof p !== 'object') return;
  if (s.last && s.last.seq === p.seq && s.last.capture_mono_ns === p.capture_mono_ns) return;
  s.last = p;
  renderLabels(s, p);
  document.dispatchEvent(new CustomEvent('streamsight:prediction', { detail: { id, prediction: p } }));
  addPoint(s, Date.now(), p.latency_ms);
  scheduleDraw();
}

// The last minute of predictions, so that the charts do not start empty.
export async function loadHistory(s) {
  let data;
  try {
    ({ data } = await api('GET', `${streamPath(s.id)}/predictions?limit=${HISTORY_LIMIT}`));
  } catch (e) {
    return; // the list refresh reports errors
  }
  const preds = (data && data.predictions) || [];
  if (s.gone || !preds.length) return;
  const newest = preds[preds.length - 1];
  // Place the points by the server's monotonic clock, anchored at the
  // newest one's age by the wall clocks (clamped: clocks may disagree).
  let age = Date.now() - Date.parse(newest.capture_time);
  if (!isFinite(age) || age < 0) age = 0;
  const anchor = Date.now() - age;
  for (const p of preds) {
    const t = anchor - (newest.capture_mono_ns - p.capture_mono_ns) / 1e6;
    if (t >= Date.now() - WINDOW_MS) addPoint(s, t, p.latency_ms);
  }
  if (!s.last) {
    s.last = newest;
    renderLabels(s, newest);
  }
  scheduleDraw();
}
// ---- snapshots ----

export async function refreshSnapshot(s) {
  if (s.gone) return;
  const running = s.info && s.info.state === 'running';
  if (!document.hidden && !app.needAuth && running && !app.noSnapshots) {
    try {
      const res = await fetch(`${streamPath(s.id)}/snapshot.jpg?t=${Date.now()}`, {
        headers: authHeaders({ Accept: 'image/jpeg' }), cache: 'no-store',
      });
      const type = res.headers.get('Content-Type') || '';
      if (res.ok && type.startsWith('image/')) {
        const blob = await res.blob();
        if (!s.gone) {
          const old = s.snapUrl;
          s.snapUrl = URL.createObjectURL(blob);
          s.els.img.src = s.snapUrl;
          s.snapOk = true;
          if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
        }
      } else if (res.status === 401) {
        requireAuth((await errorFrom(res)).message);
      } else if (res.status === 404 && (await errorFrom(res)).message === 'no such route') {
        // A server without snapshots: stop asking, and give the room to
        // the labels.
        app.noSnapshots = true;
        for (const v of app.streams.values()) v.els.snap.hidden = true;
      } else if (!s.snapOk) {
        // 404/503 before the first frame.
        s.els.snapMsg.textContent = res.status === 503 || res.status === 404
          ? 'No frame yet.' : `Snapshot unavailable (HTTP ${res.status}).`;
      }
    } catch (e) {
      // network trouble: the list refresh reports it
    }
  }
  if (!s.gone) s.snapTimer = setTimeout(() => refreshSnapshot(s), SNAPSHOT_INTERVAL_MS);
}

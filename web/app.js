// streamsight dashboard: plain JavaScript, no build step, no dependencies.
//
// Data flow
// - GET /api/v1/streams every 3 s: the cards (state, fps, errors), added and
//   removed streams.
// - GET /api/v1/events (Server-Sent Events, read through fetch so that the
//   bearer token travels in the Authorization header, never in a URL):
//   "prediction" events update the top-3 labels and the latency charts.
//   Without an event stream (older server, proxy trouble, reconnecting) the
//   page polls .../predictions/latest every 2 s instead.
// - GET .../snapshot.jpg every 3 s per running stream, fetched with the token
//   and shown through a blob: URL (no cache, no token in the URL).
// - A 401 anywhere shows the token form; the token lives in sessionStorage.
// - "alert" events go to alerts.js (the alerts list) as a DOM event; each
//   card shown or updated is announced as "streamsight:stream" for roi.js
//   (the region editor) and teach.js (the Teach panel), each prediction as
//   "streamsight:prediction" (the head's live scores).
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'streamsight.token';
  const STAGES = ['queue', 'preprocess', 'infer', 'e2e'];
  const STAGE_NAMES = {
    queue: 'Queue', preprocess: 'Preprocess', infer: 'Inference', e2e: 'End-to-end',
  };
  const STATE_TEXT = {
    starting: 'Starting', running: 'Running', backoff: 'Reconnecting', stopped: 'Stopped', failed: 'Failed',
  };
  // A stream's error_kind (the server reads its last_error): what to check.
  const ERROR_HINTS = {
    unauthorized: 'Wrong user name or password (401): check the credentials in the camera URI.',
    not_found: 'Wrong path (404): the camera has no stream there; check the path in the URI (the camera\'s manual names it).',
    unreachable: 'Camera unreachable: check its address and port, that it is powered, and the network.',
    ended: 'The clip ended; it plays again after the backoff.',
  };
  const BACKOFF_TEXT = {
    unauthorized: 'Wrong password', not_found: 'Wrong path', unreachable: 'Camera unreachable',
    ended: 'Clip ended',
  };
  const WINDOW_MS = 60 * 1000;          // the charts' time span
  const GAP_MS = 5 * 1000;              // a longer pause breaks a chart line
  const LIST_INTERVAL_MS = 3000;
  const SNAPSHOT_INTERVAL_MS = 3000;
  const POLL_INTERVAL_MS = 2000;
  const SSE_IDLE_MS = 45 * 1000;        // three missed 15 s heartbeats
  const SSE_RETRY_MIN_MS = 1000;
  const SSE_RETRY_MAX_MS = 15 * 1000;
  const HISTORY_LIMIT = 300;            // 60 s at 5 fps
  const TOP_N = 3;
  const N_SERIES = 8;                   // --series-0 .. --series-7 in style.css
  const DASHES = [[], [7, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 3], [12, 4], [6, 2, 2, 2]];

  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  const app = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    needAuth: false,
    streams: new Map(),   // id -> stream view (see addStream)
    listLoaded: false,
    listFailures: 0,
    colorsUsed: new Set(),
    sse: {
      ctrl: null, live: false, unsupported: false, stopped: true,
      lastId: '', retryMs: SSE_RETRY_MIN_MS, retryTimer: 0, idleTimer: 0, dropped: 0,
    },
    pollTimer: 0,
    noSnapshots: false,   // the server answered "no such route"
    drawPending: false,
    theme: null,
  };

  // ---- HTTP ----

  function authHeaders(extra) {
    const h = Object.assign({}, extra);
    if (app.token) h.Authorization = 'Bearer ' + app.token;
    return h;
  }

  async function errorFrom(res) {
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      // not JSON: the status line is all there is
    }
    const err = data && data.error;
    return new ApiError(res.status, (err && err.code) || 'http_' + res.status,
      (err && err.message) || `HTTP ${res.status} ${res.statusText}`.trim());
  }

  // JSON request; resolves to {status, data, headers}, rejects with ApiError
  // (status 0: the server could not be reached).
  async function api(method, path, body) {
    const init = { method, cache: 'no-store', headers: authHeaders({ Accept: 'application/json' }) };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
    if (!res.ok) {
      const err = await errorFrom(res);
      if (res.status === 401) requireAuth(err.message);
      throw err;
    }
    let data = null;
    if (res.status !== 204) {
      const text = await res.text();
      if (text) data = JSON.parse(text);
    }
    return { status: res.status, data, headers: res.headers };
  }

  const streamPath = (id) => `${API}/streams/${encodeURIComponent(id)}`;

  // ---- announcements and status ----

  let announceTimer = 0;
  function announce(text) {
    const el = $('announce');
    el.textContent = '';
    clearTimeout(announceTimer);
    // A fresh text node in the next task is announced even when repeated.
    announceTimer = setTimeout(() => { el.textContent = text; }, 50);
  }

  function setConn(kind, text) {
    const el = $('conn');
    if (el.dataset.conn === kind && el.textContent === text) return;
    el.dataset.conn = kind;
    el.textContent = text;
  }

  function updateConn() {
    if (app.needAuth) setConn('auth', 'Token required');
    else if (app.listFailures > 0 && !app.sse.live) setConn('offline', 'Server unreachable');
    else if (app.sse.live) {
      setConn('live', app.sse.dropped > 0
        ? `Live (${app.sse.dropped} events dropped)` : 'Live');
    } else if (app.sse.unsupported) setConn('polling', 'Polling (no event stream)');
    else if (app.listLoaded) setConn('polling', 'Reconnecting…');
    else setConn('connecting', 'Connecting…');
  }

  // ---- token ----

  function requireAuth(message) {
    const refused = !!app.token;
    if (refused) {
      app.token = '';
      sessionStorage.removeItem(TOKEN_KEY);
    }
    // Requests still on their way with the old token also come back 401:
    // they must not wipe the message.
    if (refused) $('auth-error').textContent = `The server refused the token: ${message}`;
    else if (!app.needAuth) $('auth-error').textContent = '';
    $('forget-token').hidden = true;
    if (!app.needAuth) {
      app.needAuth = true;
      $('auth').hidden = false;
      stopEvents();
      stopPolling();
      $('auth-token').focus();
    }
    updateConn();
  }

  function useToken(token) {
    app.token = token;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    $('forget-token').hidden = !token;
    app.needAuth = false;
    $('auth').hidden = true;
    $('auth-error').textContent = '';
    updateConn();
    refreshStreams().then(() => {
      if (!app.needAuth) startEvents();
    });
    document.dispatchEvent(new CustomEvent('streamsight:auth'));
  }

  // ---- stream cards ----

  function formatNumber(v, digits) {
    return typeof v === 'number' && isFinite(v) ? v.toFixed(digits) : '–';
  }

  function formatMs(v) {
    if (typeof v !== 'number' || !isFinite(v)) return '–';
    if (v >= 100) return v.toFixed(0);
    if (v >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }

  function pickColor() {
    for (let i = 0; i < N_SERIES; i++) {
      if (!app.colorsUsed.has(i)) {
        app.colorsUsed.add(i);
        return i;
      }
    }
    return app.streams.size % N_SERIES;
  }

  function addStream(info) {
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

  function updateStream(s, info) {
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
  function updateSnapMessage(s) {
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

  function dropStream(id) {
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

  function renderLabels(s, p) {
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

  function addPoint(s, t, lat) {
    if (!lat) return;
    const pt = { t };
    for (const k of STAGES) pt[k] = typeof lat[k] === 'number' ? lat[k] : NaN;
    const pts = s.points;
    // Keep time order (history may arrive after a live event).
    let i = pts.length;
    while (i > 0 && pts[i - 1].t > t) i--;
    pts.splice(i, 0, pt);
  }

  function onPrediction(id, p) {
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
  async function loadHistory(s) {
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

  // ---- the stream list ----

  let listTimer = 0;
  let listInFlight = null;
  let listQueued = null;
  // Bumped by every add and remove: a list answer that left before one is
  // stale (it could bring back a removed card) and is dropped.
  let listEpoch = 0;

  function scheduleListRefresh() {
    clearTimeout(listTimer);
    listTimer = setTimeout(refreshStreams, 300);
  }

  // Resolves once a list requested after this call has been shown.
  function refreshStreams() {
    if (listInFlight) {
      if (!listQueued) {
        listQueued = listInFlight.then(() => {
          listQueued = null;
          return refreshStreams();
        });
      }
      return listQueued;
    }
    listInFlight = doRefreshStreams().finally(() => {
      listInFlight = null;
      clearTimeout(listTimer);
      listTimer = setTimeout(refreshStreams, LIST_INTERVAL_MS);
    });
    return listInFlight;
  }

  async function doRefreshStreams() {
    if (app.needAuth) return;
    const errEl = $('streams-error');
    const epoch = listEpoch;
    let data;
    try {
      ({ data } = await api('GET', `${API}/streams`));
      if (epoch !== listEpoch) {
        scheduleListRefresh();
        return;
      }
    } catch (e) {
      if (e.status !== 401) {
        app.listFailures++;
        errEl.textContent = `Could not load the streams: ${e.message}.`;
      }
      updateConn();
      return;
    }
    app.listFailures = 0;
    errEl.textContent = '';
    const list = (data && data.streams) || [];
    const grid = $('streams');
    const seen = new Set();
    let legendDirty = false;
    list.forEach((info, i) => {
      if (!info || typeof info.id !== 'string') return;
      seen.add(info.id);
      let s = app.streams.get(info.id);
      if (!s) {
        s = addStream(info);
        legendDirty = true;
      } else if (s.info && s.info.name !== info.name) {
        legendDirty = true;
      }
      updateStream(s, info);
      if (grid.children[i] !== s.card) grid.insertBefore(s.card, grid.children[i] || null);
    });
    for (const id of [...app.streams.keys()]) {
      if (!seen.has(id)) {
        dropStream(id);
        legendDirty = true;
      }
    }
    app.listLoaded = true;
    grid.setAttribute('aria-busy', 'false');
    $('stream-count').textContent = `(${list.length})`;
    $('streams-empty').hidden = list.length > 0;
    if (legendDirty) {
      renderLegend();
      scheduleDraw();
    }
    updateConn();
  }

  // ---- snapshots ----

  async function refreshSnapshot(s) {
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

  // ---- adding and removing ----

  const FIELD_INPUTS = { name: 'add-name', uri: 'add-uri', max_fps: 'add-fps' };

  async function onAddSubmit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const errEl = $('add-error');
    const button = $('add-submit');
    for (const id of Object.values(FIELD_INPUTS)) $(id).removeAttribute('aria-invalid');
    errEl.textContent = '';
    const name = $('add-name').value.trim();
    const uri = $('add-uri').value.trim();
    const fps = Number($('add-fps').value);
    button.disabled = true;
    try {
      const { headers } = await api('POST', `${API}/streams`, { name, uri, max_fps: fps });
      listEpoch++;
      form.reset();
      const warning = headers.get('Warning');
      if (warning) {
        const m = /"(.*)"/.exec(warning);
        errEl.textContent = `Added “${name}”, but ${m ? m[1] : warning}.`;
      }
      announce(`Added stream ${name}.`);
      await refreshStreams();
      $('add-name').focus();
    } catch (e) {
      if (e.status === 401) return;
      errEl.textContent = e.status === 0
        ? 'Could not reach the server; the camera was not added.'
        : `Could not add the camera: ${e.message}`;
      const m = /^(name|uri|max_fps)\b/.exec(e.message);
      if (m) {
        const input = $(FIELD_INPUTS[m[1]]);
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
    } finally {
      button.disabled = false;
    }
  }

  // PATCH a stream's enabled or max_fps from its card; the answer is the
  // stream as it is now.
  async function patchStream(s, body, what) {
    const e = s.els;
    e.enabled.disabled = true;
    e.error.textContent = '';
    try {
      const { data } = await api('PATCH', streamPath(s.id), body);
      e.enabled.disabled = false;
      if (data && data.id) updateStream(s, data);
      announce(`${(s.info && s.info.name) || s.id}: ${what}.`);
    } catch (err) {
      e.enabled.disabled = false;
      if (s.info) e.enabled.checked = s.info.enabled !== false;
      if (err.status !== 401) e.error.textContent = `Could not change the stream: ${err.message}`;
    }
  }

  async function removeStream(s) {
    const name = (s.info && s.info.name) || s.id;
    const ok = window.confirm(`Remove the stream “${name}”?\n\n` +
      'Its pipeline stops and it is deleted from the configuration.');
    if (!ok) return;
    s.els.remove.disabled = true;
    s.els.error.textContent = '';
    try {
      await api('DELETE', streamPath(s.id));
      listEpoch++;
    } catch (e) {
      if (e.status !== 404) {
        if (e.status !== 401) s.els.error.textContent = `Could not remove the stream: ${e.message}`;
        s.els.remove.disabled = false;
        return;
      }
    }
    dropStream(s.id);
    renderLegend();
    scheduleDraw();
    const n = app.streams.size;
    $('stream-count').textContent = `(${n})`;
    $('streams-empty').hidden = n > 0;
    announce(`Removed stream ${name}.`);
    $('streams-heading').focus();
    refreshStreams();
  }

  // ---- live events (SSE over fetch) ----

  function startEvents() {
    const sse = app.sse;
    if (!sse.stopped || app.needAuth) return;
    sse.stopped = false;
    if (!window.TextDecoderStream || !window.ReadableStream) {
      sse.unsupported = true;
      startPolling();
      updateConn();
      return;
    }
    runEvents();
  }

  function stopEvents() {
    const sse = app.sse;
    sse.stopped = true;
    sse.live = false;
    clearTimeout(sse.retryTimer);
    clearTimeout(sse.idleTimer);
    if (sse.ctrl) sse.ctrl.abort();
    sse.ctrl = null;
  }

  function scheduleReconnect() {
    const sse = app.sse;
    sse.live = false;
    if (sse.stopped) return;
    startPolling();
    updateConn();
    clearTimeout(sse.retryTimer);
    // Jitter keeps many open tabs from reconnecting in step.
    const delay = sse.retryMs * (0.8 + 0.4 * Math.random());
    sse.retryTimer = setTimeout(runEvents, delay);
    sse.retryMs = Math.min(sse.retryMs * 2, SSE_RETRY_MAX_MS);
  }

  function armIdle(ctrl) {
    clearTimeout(app.sse.idleTimer);
    app.sse.idleTimer = setTimeout(() => ctrl.abort(), SSE_IDLE_MS);
  }

  function onServerEvent(type, data) {
    if (!data) return;
    let obj;
    try {
      obj = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (type === 'prediction') {
      onPrediction(obj.stream_id, obj.prediction);
    } else if (type === 'heartbeat') {
      if (typeof obj.dropped === 'number') app.sse.dropped = obj.dropped;
      updateConn();
    } else if (type === 'alert') {
      // The alerts list (alerts.js) refreshes itself.
      document.dispatchEvent(new CustomEvent('streamsight:alert', { detail: obj }));
    } else if (type === 'stream_removed') {
      if (obj && app.streams.has(obj.stream_id)) {
        dropStream(obj.stream_id);
        renderLegend();
        scheduleDraw();
      }
      scheduleListRefresh();
    } else if (type === 'stream') {
      const info = obj && obj.stream ? obj.stream : obj;
      const s = info && app.streams.get(info.id);
      if (s && s.info) updateStream(s, Object.assign({}, s.info, info));
      else scheduleListRefresh();
    }
  }

  async function runEvents() {
    const sse = app.sse;
    if (sse.stopped || app.needAuth) return;
    const ctrl = new AbortController();
    sse.ctrl = ctrl;
    const headers = authHeaders({ Accept: 'text/event-stream' });
    if (sse.lastId) headers['Last-Event-ID'] = sse.lastId;
    let res;
    try {
      res = await fetch(`${API}/events`, { headers, cache: 'no-store', signal: ctrl.signal });
    } catch (e) {
      scheduleReconnect();
      return;
    }
    if (res.status === 401) {
      requireAuth((await errorFrom(res)).message);
      return;
    }
    if (res.status === 404 || res.status === 405 || res.status === 501) {
      // This server has no event stream: poll.
      sse.unsupported = true;
      startPolling();
      updateConn();
      return;
    }
    const type = res.headers.get('Content-Type') || '';
    if (!res.ok || !type.startsWith('text/event-stream') || !res.body) {
      scheduleReconnect();
      return;
    }
    sse.live = true;
    sse.unsupported = false;
    sse.retryMs = SSE_RETRY_MIN_MS;
    stopPolling();
    updateConn();
    armIdle(ctrl);

    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let evType = '';
    let evData = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        armIdle(ctrl);
        buf += value;
        let pos = 0;
        for (;;) {
          // Lines end in LF, CRLF or CR; a CR at the very end may be the
          // first half of a CRLF: wait for more.
          let end = -1;
          for (let i = pos; i < buf.length; i++) {
            const ch = buf.charCodeAt(i);
            if (ch === 10 || ch === 13) {
              end = i;
              break;
            }
          }
          if (end < 0 || (buf.charCodeAt(end) === 13 && end === buf.length - 1)) break;
          const line = buf.slice(pos, end);
          pos = end + (buf.charCodeAt(end) === 13 && buf.charCodeAt(end + 1) === 10 ? 2 : 1);
          if (line === '') {
            onServerEvent(evType || 'message', evData.join('\n'));
            evType = '';
            evData = [];
            continue;
          }
          if (line.charCodeAt(0) === 58) continue; // ":" comment
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? '' : line.slice(colon + 1);
          if (val.charCodeAt(0) === 32) val = val.slice(1);
          if (field === 'event') evType = val;
          else if (field === 'data') evData.push(val);
          else if (field === 'id' && !val.includes('\0')) sse.lastId = val;
          else if (field === 'retry' && /^\d+$/.test(val)) {
            sse.retryMs = Math.min(Math.max(Number(val), SSE_RETRY_MIN_MS), SSE_RETRY_MAX_MS);
          }
        }
        buf = buf.slice(pos);
      }
    } catch (e) {
      // aborted (idle, stopped) or the connection broke
    }
    clearTimeout(sse.idleTimer);
    if (sse.ctrl === ctrl) sse.ctrl = null;
    scheduleReconnect();
  }

  // ---- polling fallback ----

  function startPolling() {
    if (app.pollTimer || app.needAuth) return;
    const tick = async () => {
      if (!document.hidden) {
        for (const s of [...app.streams.values()]) {
          if (!app.pollTimer) return;
          try {
            const { data } = await api('GET', `${streamPath(s.id)}/predictions/latest`);
            if (data && data.prediction) onPrediction(s.id, data.prediction);
          } catch (e) {
            if (e.status === 401) return;
          }
        }
      }
      if (app.pollTimer) app.pollTimer = setTimeout(tick, POLL_INTERVAL_MS);
    };
    app.pollTimer = setTimeout(tick, 0);
  }

  function stopPolling() {
    clearTimeout(app.pollTimer);
    app.pollTimer = 0;
  }

  // ---- legend and latency charts ----

  function readTheme() {
    const cs = getComputedStyle(document.documentElement);
    const v = (name) => cs.getPropertyValue(name).trim();
    const series = [];
    for (let i = 0; i < N_SERIES; i++) series.push(v(`--series-${i}`));
    app.theme = {
      text: v('--muted'), grid: v('--grid'), series,
      font: `12px ${getComputedStyle(document.body).fontFamily}`,
    };
  }

  function renderLegend() {
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

  function niceStep(range, ticks) {
    const raw = range / ticks;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    const step = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
    return step * mag;
  }

  function median(sorted) {
    const n = sorted.length;
    return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  function scheduleDraw() {
    if (app.drawPending) return;
    app.drawPending = true;
    requestAnimationFrame(() => {
      app.drawPending = false;
      drawCharts();
    });
  }

  function drawCharts() {
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

  function drawChart(fig, stage, from, now) {
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

  // ---- start ----

  function start() {
    $('add-form').addEventListener('submit', onAddSubmit);
    $('auth-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = $('auth-token');
      const token = input.value.trim();
      if (!token) return;
      input.value = '';
      announce('Token saved for this tab.');
      useToken(token);
    });
    $('forget-token').hidden = !app.token;
    $('forget-token').addEventListener('click', () => {
      stopEvents();
      stopPolling();
      useToken('');
      announce('Token forgotten.');
    });
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    const onTheme = () => {
      readTheme();
      renderLegend();
      scheduleDraw();
    };
    if (mq.addEventListener) mq.addEventListener('change', onTheme);
    window.addEventListener('resize', scheduleDraw);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) scheduleDraw();
    });
    // The charts scroll with time even when nothing arrives.
    setInterval(scheduleDraw, 1000);
    updateConn();
    refreshStreams().then(() => {
      if (!app.needAuth) startEvents();
    });
  }

  // What the dashboard's other scripts (alerts.js) use.
  window.streamsight = {
    api,
    authHeaders,
    announce,
    needAuth: () => app.needAuth,
    streamName: (id) => {
      const s = app.streams.get(id);
      return (s && s.info && s.info.name) || id;
    },
  };

  start();
})();

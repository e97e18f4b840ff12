// streamsight dashboard: live events (Server-Sent Events read through
// fetch, so that the token travels in a header) and the polling fallback.
import {
  API,
  POLL_INTERVAL_MS,
  SSE_IDLE_MS,
  SSE_RETRY_MAX_MS,
  SSE_RETRY_MIN_MS,
  api,
  app,
  authHeaders,
  errorFrom,
  requireAuth,
  streamPath,
  updateConn,
} from './core.js';
import { dropStream, onPrediction, updateStream } from './cards.js';
import { scheduleListRefresh } from './stream-list.js';
import { renderLegend, scheduleDraw } from './charts.js';

// ---- live events (SSE over fetch) ----

export function startEvents() {
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

export function stopEvents() {
  const sse = app.sse;
  sse.stopped = true;
  sse.live = false;
  clearTimeout(sse.retryTimer);
  clearTimeout(sse.idleTimer);
  if (sse.ctrl) sse.ctrl.abort();
  sse.ctrl = null;
}

export function scheduleReconnect() {
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

export function armIdle(ctrl) {
  clearTimeout(app.sse.idleTimer);
  app.sse.idleTimer = setTimeout(() => ctrl.abort(), SSE_IDLE_MS);
}

export function onServerEvent(type, data) {
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

export async function runEvents() {
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

export function startPolling() {
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

export function stopPolling() {
  clearTimeout(app.pollTimer);
  app.pollTimer = 0;
}

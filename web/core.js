// streamsight dashboard: what every part shares: constants, the page's
// state, HTTP with the token, announcements, the connection status and
// the token form.
import { refreshStreams } from './stream-list.js';
import { startEvents, stopEvents, stopPolling } from './events.js';

export const API = '/api/v1';
export const TOKEN_KEY = 'streamsight.token';
export const STAGES = ['queue', 'preprocess', 'infer', 'e2e'];
export const STAGE_NAMES = {
  queue: 'Queue', preprocess: 'Preprocess', infer: 'Inference', e2e: 'End-to-end',
};
export const STATE_TEXT = {
  starting: 'Starting', running: 'Running', backoff: 'Reconnecting', stopped: 'Stopped', failed: 'Failed',
};
// A stream's error_kind (the server reads its last_error): what to check.
export const ERROR_HINTS = {
  unauthorized: 'Wrong user name or password (401): check the credentials in the camera URI.',
  not_found: 'Wrong path (404): the camera has no stream there; check the path in the URI (the camera\'s manual names it).',
  unreachable: 'Camera unreachable: check its address and port, that it is powered, and the network.',
  ended: 'The clip ended; it plays again after the backoff.',
};
export const BACKOFF_TEXT = {
  unauthorized: 'Wrong password', not_found: 'Wrong path', unreachable: 'Camera unreachable',
  ended: 'Clip ended',
};
export const WINDOW_MS = 60 * 1000;          // the charts' time span
export const GAP_MS = 5 * 1000;              // a longer pause breaks a chart line
export const LIST_INTERVAL_MS = 3000;
export const SNAPSHOT_INTERVAL_MS = 3000;
export const POLL_INTERVAL_MS = 2000;
export const SSE_IDLE_MS = 45 * 1000;        // three missed 15 s heartbeats
export const SSE_RETRY_MIN_MS = 1000;
export const SSE_RETRY_MAX_MS = 15 * 1000;
export const HISTORY_LIMIT = 300;            // 60 s at 5 fps
export const TOP_N = 3;
export const N_SERIES = 8;                   // --series-0 .. --series-7 in style.css
export const DASHES = [[], [7, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 3], [12, 4], [6, 2, 2, 2]];

export const $ = (id) => document.getElementById(id);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const app = {
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

export function authHeaders(extra) {
  const h = Object.assign({}, extra);
  if (app.token) h.Authorization = 'Bearer ' + app.token;
  return h;
}

export async function errorFrom(res) {
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
export async function api(method, path, body) {
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

export const streamPath = (id) => `${API}/streams/${encodeURIComponent(id)}`;
// ---- announcements and status ----

let announceTimer = 0;
let announcePending = [];
export function announce(text) {
  const el = $('announce');
  el.textContent = '';
  clearTimeout(announceTimer);
  // A fresh text node in the next task is announced even when repeated.
  // Texts told within those 50 ms are read together, not the last alone:
  // adding a stream is at once followed by its state change (the server
  // tells the event stream right away), which used to swallow "Added ...".
  announcePending.push(text);
  announceTimer = setTimeout(() => {
    el.textContent = announcePending.join(' ');
    announcePending = [];
  }, 50);
}

export function setConn(kind, text) {
  const el = $('conn');
  if (el.dataset.conn === kind && el.textContent === text) return;
  el.dataset.conn = kind;
  el.textContent = text;
}

export function updateConn() {
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

export function requireAuth(message) {
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

export function useToken(token) {
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

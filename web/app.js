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
//
// Modules: core.js (state, HTTP, token), cards.js, stream-list.js,
// events.js, charts.js; this file starts them and exposes the helpers the
// other scripts use.
import {
  $,
  announce,
  api,
  app,
  authHeaders,
  updateConn,
  useToken,
} from './core.js';
import { onAddSubmit, refreshStreams } from './stream-list.js';
import { startEvents, stopEvents, stopPolling } from './events.js';
import { readTheme, renderLegend, scheduleDraw } from './charts.js';

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

// streamsight dashboard: the alerts list (issue 12 part 6).
//
// - GET /api/v1/alerts?limit=20 at start, every 10 s, and soon after each
//   "alert" event of the event stream (app.js passes them on as a
//   "streamsight:alert" DOM event).
// - Each alert's best frame: GET /api/v1/alerts/{id}/snapshot.jpg with the
//   token in the Authorization header, shown through a blob: URL; fetched
//   once per alert and state (the JPEG is replaced when an alert ends).
// Uses the helpers app.js exposes on window.streamsight (api, authHeaders,
// announce, streamName, needAuth).
'use strict';

(() => {
  const ss = window.streamsight;
  if (!ss) return;
  const LIMIT = 20;
  const REFRESH_MS = 10 * 1000;
  const $ = (id) => document.getElementById(id);
  const list = $('alerts');
  if (!list) return;

  const views = new Map(); // alert id -> {li, els, key, url}
  let timer = 0;
  let inFlight = false;
  let again = false;

  const timeFmt = new Intl.DateTimeFormat(undefined, {
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

  function formatTime(iso) {
    const d = new Date(iso);
    if (!isFinite(d)) return '–';
    const today = new Date().toDateString() === d.toDateString();
    return today ? timeFmt.format(d) : `${dateFmt.format(d)} ${timeFmt.format(d)}`;
  }

  function formatDuration(s) {
    if (typeof s !== 'number' || !isFinite(s)) return '';
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    const m = Math.floor(s / 60);
    return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function makeView(a) {
    const li = document.createElement('li');
    li.className = 'alert';
    li.dataset.alertId = String(a.id);
    const fig = document.createElement('div');
    fig.className = 'alert-snap';
    const img = document.createElement('img');
    img.hidden = true;
    img.width = 160;
    img.height = 90;
    const none = document.createElement('span');
    none.className = 'muted';
    none.textContent = 'No picture';
    fig.append(img, none);
    const body = document.createElement('div');
    body.className = 'alert-body';
    const title = document.createElement('p');
    title.className = 'alert-title';
    const cls = document.createElement('strong');
    cls.className = 'alert-class';
    const on = document.createElement('span');
    on.className = 'alert-stream';
    const state = document.createElement('span');
    state.className = 'alert-state';
    title.append(cls, on, state);
    const when = document.createElement('p');
    when.className = 'alert-when muted';
    const peak = document.createElement('p');
    peak.className = 'alert-peak muted';
    body.append(title, when, peak);
    li.append(fig, body);
    img.addEventListener('load', () => {
      img.hidden = false;
      none.hidden = true;
    });
    return { li, els: { img, none, cls, on, state, when, peak }, key: '', url: '' };
  }

  function render(v, a) {
    const e = v.els;
    const stream = ss.streamName(a.stream_id);
    e.cls.textContent = a.class;
    e.on.textContent = ` on ${stream} `;
    const active = a.state === 'active';
    e.state.textContent = active ? 'Active' : a.interrupted ? 'Ended (server stopped)' : 'Ended';
    e.state.dataset.state = active ? 'active' : 'ended';
    v.li.dataset.state = e.state.dataset.state;
    const start = formatTime(a.start_time);
    e.when.textContent = active
      ? `since ${start} (${formatDuration(a.duration_s)} so far)`
      : `${start} – ${formatTime(a.end_time)} (${formatDuration(a.duration_s)})`;
    const pct = (Math.min(1, Math.max(0, Number(a.peak_score) || 0)) * 100).toFixed(1);
    e.peak.textContent = `peak score ${pct} % (threshold ${(Number(a.min_score) * 100).toFixed(0)} %)`;
    e.img.alt = `Best frame of the ${a.class} alert on ${stream}, ${start}`;
    const key = `${a.snapshot || ''}|${a.state}`;
    if (a.snapshot && key !== v.key) {
      v.key = key;
      loadSnapshot(v, a);
    }
  }

  async function loadSnapshot(v, a) {
    try {
      const res = await fetch(a.snapshot, {
        headers: ss.authHeaders({ Accept: 'image/jpeg' }), cache: 'no-store',
      });
      if (!res.ok || !(res.headers.get('Content-Type') || '').startsWith('image/')) return;
      const blob = await res.blob();
      if (!views.has(a.id)) return;
      const old = v.url;
      v.url = URL.createObjectURL(blob);
      v.els.img.src = v.url;
      if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
    } catch (e) {
      // the next refresh tries again only if the alert changes
    }
  }

  async function refresh() {
    clearTimeout(timer);
    if (inFlight) {
      again = true;
      return;
    }
    if (ss.needAuth() || document.hidden) {
      timer = setTimeout(refresh, REFRESH_MS);
      return;
    }
    inFlight = true;
    const errEl = $('alerts-error');
    try {
      const { data } = await ss.api('GET', `/api/v1/alerts?limit=${LIMIT}`);
      errEl.textContent = '';
      const alerts = (data && Array.isArray(data.alerts)) ? data.alerts : [];
      const seen = new Set();
      alerts.forEach((a, i) => {
        if (!a || typeof a.id !== 'number') return;
        seen.add(a.id);
        let v = views.get(a.id);
        if (!v) {
          v = makeView(a);
          views.set(a.id, v);
        }
        render(v, a);
        if (list.children[i] !== v.li) list.insertBefore(v.li, list.children[i] || null);
      });
      for (const [id, v] of views) {
        if (seen.has(id)) continue;
        if (v.url) URL.revokeObjectURL(v.url);
        v.li.remove();
        views.delete(id);
      }
      $('alerts-empty').hidden = alerts.length > 0;
      $('alert-count').textContent = alerts.length ? `(${alerts.length}${alerts.length === LIMIT ? '+' : ''})` : '';
      list.setAttribute('aria-busy', 'false');
    } catch (e) {
      if (e.status === 503) {
        errEl.textContent = 'This server keeps no alerts.';
      } else if (e.status === 404) {
        $('alerts-panel').hidden = true; // an older server without alerts
        return;
      } else if (e.status !== 401) {
        errEl.textContent = `Could not load the alerts: ${e.message}.`;
      }
    } finally {
      inFlight = false;
    }
    if (again) {
      again = false;
      refresh();
      return;
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  document.addEventListener('streamsight:alert', (ev) => {
    const d = ev.detail || {};
    const a = d.alert || {};
    if (d.type === 'start' && a.class) {
      ss.announce(`Alert: ${a.class} on ${ss.streamName(d.stream_id)}.`);
    }
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  });
  document.addEventListener('streamsight:auth', () => refresh());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });
  refresh();
})();

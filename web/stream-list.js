// streamsight dashboard: the stream list (GET every 3 s, cards added,
// ordered and dropped) and adding, changing and removing streams.
import {
  $,
  API,
  LIST_INTERVAL_MS,
  announce,
  api,
  app,
  streamPath,
  updateConn,
} from './core.js';
import { addStream, dropStream, updateStream } from './cards.js';
import { renderLegend, scheduleDraw } from './charts.js';

// ---- the stream list ----

let listTimer = 0;
let listInFlight = null;
let listQueued = null;
// Bumped by every add and remove: a list answer that left before one is
// stale (it could bring back a removed card) and is dropped.
let listEpoch = 0;

export function scheduleListRefresh() {
  clearTimeout(listTimer);
  listTimer = setTimeout(refreshStreams, 300);
}

// Resolves once a list requested after this call has been shown.
export function refreshStreams() {
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

export async function doRefreshStreams() {
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
// ---- adding and removing ----

export const FIELD_INPUTS = { name: 'add-name', uri: 'add-uri', max_fps: 'add-fps' };

export async function onAddSubmit(ev) {
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
export async function patchStream(s, body, what) {
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

export async function removeStream(s) {
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

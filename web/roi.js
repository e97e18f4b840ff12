// streamsight dashboard: each stream's region of interest (issue 12 part 6).
//
// The ROI (the part of the frame the model sees, {x, y, w, h} in fractions
// of the frame, GET/PATCH /api/v1/streams/{id}) is outlined over the
// stream's snapshot. "Region" opens an editor: drag on the picture with a
// mouse or finger, or type the four values (percent of the frame) with the
// keyboard; Save sends PATCH {"roi": {...}}, "Whole frame" PATCH {"roi":
// null}. app.js announces each card as a "streamsight:stream" DOM event
// ({id, card, info}) and exposes its helpers on window.streamsight.
'use strict';

(() => {
  const ss = window.streamsight;
  if (!ss) return;
  const views = new Map(); // stream id -> view
  const FIELDS = ['x', 'y', 'w', 'h'];
  const FULL = { x: 0, y: 0, w: 1, h: 1 };

  const clamp01 = (v) => Math.min(1, Math.max(0, v));
  const isFull = (r) => !r || (r.x <= 0 && r.y <= 0 && r.w >= 1 && r.h >= 1);
  const pct = (v) => Math.round(v * 1000) / 10;

  function validRoi(r) {
    return r && FIELDS.every((k) => typeof r[k] === 'number' && isFinite(r[k])) &&
      r.x >= 0 && r.y >= 0 && r.w > 0 && r.h > 0 && r.x + r.w <= 1.0005 && r.y + r.h <= 1.0005;
  }

  function makeView(id, card) {
    const snap = card.querySelector('.snap');
    const actions = card.querySelector('.card-actions');
    const uid = `roi-${Math.random().toString(36).slice(2, 9)}`;
    const box = document.createElement('div');
    box.className = 'roi-box';
    box.hidden = true;
    box.setAttribute('aria-hidden', 'true');
    snap.append(box);

    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'roi-edit secondary';
    button.textContent = 'Region…';
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-controls', uid);
    actions.prepend(button);

    const form = document.createElement('form');
    form.className = 'roi-form';
    form.id = uid;
    form.hidden = true;
    const legend = document.createElement('p');
    legend.className = 'roi-help muted';
    legend.textContent = 'Region the model looks at, in % of the frame: drag on the picture or type the values.';
    form.append(legend);
    const inputs = {};
    const names = { x: 'Left', y: 'Top', w: 'Width', h: 'Height' };
    const grid = document.createElement('div');
    grid.className = 'roi-fields';
    for (const k of FIELDS) {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'number';
      input.min = k === 'w' || k === 'h' ? '0.1' : '0';
      input.max = '100';
      input.step = '0.1';
      input.required = true;
      input.name = k;
      input.id = `${uid}-${k}`;
      label.htmlFor = input.id;
      label.textContent = `${names[k]} %`;
      const wrap = document.createElement('div');
      wrap.append(label, input);
      grid.append(wrap);
      inputs[k] = input;
    }
    form.append(grid);
    const row = document.createElement('div');
    row.className = 'roi-actions';
    const save = document.createElement('button');
    save.type = 'submit';
    save.textContent = 'Save region';
    const whole = document.createElement('button');
    whole.type = 'button';
    whole.className = 'secondary';
    whole.textContent = 'Whole frame';
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'secondary';
    cancel.textContent = 'Cancel';
    row.append(save, whole, cancel);
    const err = document.createElement('p');
    err.className = 'form-error';
    err.setAttribute('role', 'alert');
    form.append(row, err);
    actions.before(form);

    const v = {
      id, card, snap, box, button, form, inputs, err, save,
      roi: FULL, draft: null, editing: false, drag: null, name: id,
    };
    button.addEventListener('click', () => (v.editing ? close(v) : open(v)));
    cancel.addEventListener('click', () => close(v));
    whole.addEventListener('click', () => submit(v, null));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const r = readInputs(v);
      if (!r) {
        err.textContent = 'The region must lie inside the frame, with a width and height above 0.';
        return;
      }
      submit(v, r);
    });
    for (const k of FIELDS) {
      inputs[k].addEventListener('input', () => {
        const r = readInputs(v);
        if (r) {
          v.draft = r;
          drawBox(v, r);
        }
      });
    }
    snap.addEventListener('pointerdown', (ev) => onPointerDown(v, ev));
    snap.addEventListener('pointermove', (ev) => onPointerMove(v, ev));
    snap.addEventListener('pointerup', (ev) => onPointerUp(v, ev));
    snap.addEventListener('pointercancel', () => { v.drag = null; });
    return v;
  }

  function readInputs(v) {
    const r = {};
    for (const k of FIELDS) {
      const n = Number(v.inputs[k].value);
      if (v.inputs[k].value === '' || !isFinite(n)) return null;
      r[k] = n / 100;
    }
    return validRoi(r) ? r : null;
  }

  function fillInputs(v, r) {
    for (const k of FIELDS) v.inputs[k].value = String(pct(r[k]));
  }

  function drawBox(v, r) {
    const show = v.editing || !isFull(r);
    v.box.hidden = !show;
    if (!show) return;
    v.box.style.left = `${r.x * 100}%`;
    v.box.style.top = `${r.y * 100}%`;
    v.box.style.width = `${r.w * 100}%`;
    v.box.style.height = `${r.h * 100}%`;
    v.box.classList.toggle('editing', v.editing);
  }

  function open(v) {
    v.editing = true;
    v.draft = Object.assign({}, v.roi);
    fillInputs(v, v.draft);
    v.err.textContent = '';
    v.form.hidden = false;
    v.button.setAttribute('aria-expanded', 'true');
    v.snap.classList.add('roi-editing');
    drawBox(v, v.draft);
    v.inputs.x.focus();
  }

  function close(v) {
    v.editing = false;
    v.drag = null;
    v.form.hidden = true;
    v.button.setAttribute('aria-expanded', 'false');
    v.snap.classList.remove('roi-editing');
    drawBox(v, v.roi);
    v.button.focus();
  }

  function pointAt(v, ev) {
    const b = v.snap.getBoundingClientRect();
    return { x: clamp01((ev.clientX - b.left) / b.width), y: clamp01((ev.clientY - b.top) / b.height) };
  }

  function onPointerDown(v, ev) {
    if (!v.editing || ev.button !== 0) return;
    ev.preventDefault();
    v.snap.setPointerCapture(ev.pointerId);
    v.drag = pointAt(v, ev);
  }

  function onPointerMove(v, ev) {
    if (!v.drag) return;
    const p = pointAt(v, ev);
    const r = {
      x: Math.min(v.drag.x, p.x), y: Math.min(v.drag.y, p.y),
      w: Math.abs(p.x - v.drag.x), h: Math.abs(p.y - v.drag.y),
    };
    if (r.w < 0.01 || r.h < 0.01) return;
    v.draft = r;
    fillInputs(v, r);
    drawBox(v, r);
  }

  function onPointerUp(v, ev) {
    if (!v.drag) return;
    onPointerMove(v, ev);
    v.drag = null;
  }

  async function submit(v, r) {
    v.err.textContent = '';
    v.save.disabled = true;
    const roi = r ? {
      x: Math.round(r.x * 10000) / 10000,
      y: Math.round(r.y * 10000) / 10000,
      w: Math.round(r.w * 10000) / 10000,
      h: Math.round(r.h * 10000) / 10000,
    } : null;
    // Rounding must not push the far edge past the frame.
    if (roi) {
      roi.w = Math.min(roi.w, Math.round((1 - roi.x) * 10000) / 10000);
      roi.h = Math.min(roi.h, Math.round((1 - roi.y) * 10000) / 10000);
    }
    try {
      const { data } = await ss.api('PATCH', `/api/v1/streams/${encodeURIComponent(v.id)}`, { roi });
      v.roi = data && validRoi(data.roi) ? data.roi : (roi || FULL);
      close(v);
      ss.announce(isFull(v.roi) ? `${v.name}: the model sees the whole frame.`
        : `${v.name}: region saved.`);
    } catch (e) {
      if (e.status !== 401) v.err.textContent = `Could not save the region: ${e.message}`;
    } finally {
      v.save.disabled = false;
    }
  }

  document.addEventListener('streamsight:stream', (ev) => {
    const { id, card, info } = ev.detail || {};
    if (!id || !card) return;
    let v = views.get(id);
    if (!v || v.card !== card) {
      v = makeView(id, card);
      views.set(id, v);
    }
    v.name = (info && info.name) || id;
    v.button.setAttribute('aria-label', `Region of interest of ${v.name}`);
    const r = info && validRoi(info.roi) ? info.roi : FULL;
    v.roi = r;
    if (!v.editing) drawBox(v, r);
  });
  document.addEventListener('streamsight:stream-removed', (ev) => {
    views.delete((ev.detail || {}).id);
  });
})();

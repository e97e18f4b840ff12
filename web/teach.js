// streamsight dashboard: the "Teach" panel of each stream (issue 12 part 6).
//
// A head is the stream's own classifier (/api/v1/heads). The panel works on
// the stream's head (the stream's "head" option, or a head with the
// stream's id): without one it offers to create it from a list of class
// names. Then one button per class captures the stream's current frame as
// an example (POST .../examples {class, stream}: the server crops the
// stream's ROI); the examples are shown as thumbnails (their kept JPEGs,
// fetched with the token, shown through blob: URLs), each removable; Train
// (POST .../train) shows the cross-validated accuracy per class; and the
// head's live scores follow the stream's predictions.
// Uses window.streamsight (app.js) and its DOM events: streamsight:stream
// for each card, streamsight:prediction for each prediction.
'use strict';

(() => {
  const ss = window.streamsight;
  if (!ss) return;
  const API = '/api/v1';
  const MAX_THUMBS = 60;
  const views = new Map(); // stream id -> view
  const enc = encodeURIComponent;

  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('aria-') || k === 'role' || k === 'for') e.setAttribute(k, v);
        else e[k] = v;
      }
    }
    e.append(...kids);
    return e;
  }

  const pct = (v) => `${(Math.min(1, Math.max(0, Number(v) || 0)) * 100).toFixed(1)} %`;

  function makeView(id, card) {
    const uid = `teach-${Math.random().toString(36).slice(2, 9)}`;
    const actions = card.querySelector('.card-actions');
    const button = el('button', {
      type: 'button', class: 'teach-toggle secondary', text: 'Teach…',
      'aria-expanded': 'false', 'aria-controls': uid,
    });
    actions.prepend(button);
    const panel = el('section', { class: 'teach', id: uid, hidden: true });
    const heading = el('h4', { class: 'teach-heading', text: 'Teach this camera' });
    const status = el('p', { class: 'teach-status muted' });
    const err = el('p', { class: 'form-error', role: 'alert' });

    // No head yet: create one.
    const createForm = el('form', { class: 'teach-create', hidden: true });
    const clsInput = el('input', {
      id: `${uid}-classes`, name: 'classes', required: true, autocomplete: 'off',
      placeholder: 'person, empty',
    });
    createForm.append(
      el('label', { for: clsInput.id, text: 'Classes (comma-separated)' }), clsInput,
      el('button', { type: 'submit', text: 'Create classifier' }));

    // With a head.
    const body = el('div', { class: 'teach-body', hidden: true });
    const captures = el('div', { class: 'teach-captures', role: 'group' });
    const scores = el('ol', { class: 'teach-scores', 'aria-label': 'Live scores of your classes' });
    const trainBtn = el('button', { type: 'button', class: 'teach-train', text: 'Train' });
    const report = el('p', { class: 'teach-report', 'aria-live': 'polite' });
    const thumbsHeading = el('h5', { class: 'teach-thumbs-heading', text: 'Examples' });
    const thumbs = el('ul', { class: 'teach-thumbs' });
    body.append(captures, scores, el('div', { class: 'teach-train-row' }, trainBtn, report),
      thumbsHeading, thumbs);
    panel.append(heading, status, createForm, body, err);
    actions.before(panel);

    const v = {
      id, card, button, panel, status, err, createForm, clsInput, body, captures, scores,
      trainBtn, report, thumbs, thumbsHeading,
      name: id, headId: '', head: null, open: false, thumbUrls: new Map(), busy: false,
      info: null,
    };
    button.addEventListener('click', () => (v.open ? close(v) : open(v)));
    createForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      createHead(v);
    });
    trainBtn.addEventListener('click', () => train(v));
    return v;
  }

  function setError(v, msg) {
    v.err.textContent = msg || '';
  }

  async function open(v) {
    v.open = true;
    v.panel.hidden = false;
    v.button.setAttribute('aria-expanded', 'true');
    setError(v, '');
    await loadHead(v);
    const first = v.body.hidden ? v.clsInput : v.captures.querySelector('button');
    if (first) first.focus();
  }

  function close(v) {
    v.open = false;
    v.panel.hidden = true;
    v.button.setAttribute('aria-expanded', 'false');
    v.button.focus();
  }

  function headIdOf(v) {
    const h = v.info && typeof v.info.head === 'string' && v.info.head ? v.info.head : '';
    return h || v.id;
  }

  async function loadHead(v) {
    v.headId = headIdOf(v);
    let head = null;
    try {
      ({ data: head } = await ss.api('GET', `${API}/heads/${enc(v.headId)}`));
    } catch (e) {
      if (e.status === 404 && /route/.test(e.message)) {
        v.status.textContent = 'This server has no custom classifiers.';
        v.createForm.hidden = true;
        v.body.hidden = true;
        return;
      }
      if (e.status !== 404) {
        setError(v, `Could not load the classifier: ${e.message}`);
        return;
      }
    }
    v.head = head;
    if (!head) {
      v.status.textContent = 'Name the classes you want this camera to tell apart, then show it examples of each.';
      v.createForm.hidden = false;
      v.body.hidden = true;
      return;
    }
    v.createForm.hidden = true;
    v.body.hidden = false;
    renderHead(v);
    await loadExamples(v);
  }

  function classCounts(head) {
    const c = head && head.examples;
    return c && typeof c === 'object' && !Array.isArray(c) ? c : {};
  }

  function renderHead(v) {
    const head = v.head;
    const counts = classCounts(head);
    v.status.textContent = `Classifier “${head.id}”: capture the current frame as an example of a class (its region is used), then train.`;
    v.captures.setAttribute('aria-label', `Capture the current frame of ${v.name} as`);
    v.captures.replaceChildren();
    for (const cls of head.classes || []) {
      const n = counts[cls] || 0;
      const b = el('button', { type: 'button', class: 'teach-capture' });
      b.dataset.cls = cls;
      b.append(el('span', { text: `+ ${cls}` }), el('span', { class: 'teach-count', text: ` (${n})` }));
      b.setAttribute('aria-label', `Capture as ${cls} (${n} example${n === 1 ? '' : 's'})`);
      b.addEventListener('click', () => capture(v, cls, b));
      v.captures.append(b);
    }
    const t = head.training;
    v.report.textContent = t ? describeReport(t) : (head.trained ? 'Trained.' : 'Not trained yet.');
  }

  function describeReport(rep) {
    const cv = rep && rep.cross_validation;
    if (!cv || typeof cv.accuracy !== 'number') return 'Trained.';
    const per = (cv.classes || []).map((c) => `${c.class} ${pct(c.accuracy)}`).join(', ');
    return `Cross-validated accuracy ${pct(cv.accuracy)} over ${cv.examples} examples` +
      (per ? ` (${per})` : '') + '.';
  }

  async function createHead(v) {
    setError(v, '');
    const classes = v.clsInput.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (classes.length < 2) {
      setError(v, 'Give at least two classes, separated by commas.');
      v.clsInput.setAttribute('aria-invalid', 'true');
      v.clsInput.focus();
      return;
    }
    v.clsInput.removeAttribute('aria-invalid');
    try {
      await ss.api('POST', `${API}/heads`, { id: v.headId, classes });
      // The stream reports the head's scores once it names the head; a
      // server without stream heads keeps the head usable for examples.
      try {
        await ss.api('PATCH', `${API}/streams/${enc(v.id)}`, { head: v.headId });
      } catch (e) {
        // 400 "head: cannot be changed": an older server
      }
      ss.announce(`Classifier created with classes ${classes.join(', ')}.`);
      await loadHead(v);
      const first = v.captures.querySelector('button');
      if (first) first.focus();
    } catch (e) {
      if (e.status !== 401) setError(v, `Could not create the classifier: ${e.message}`);
    }
  }

  async function capture(v, cls, button) {
    if (v.busy) return;
    v.busy = true;
    button.disabled = true;
    setError(v, '');
    try {
      await ss.api('POST', `${API}/heads/${enc(v.headId)}/examples`, { class: cls, stream: v.id });
      ss.announce(`Captured an example of ${cls}.`);
      await refreshHead(v);
    } catch (e) {
      if (e.status !== 401) setError(v, `Could not capture: ${e.message}`);
    } finally {
      v.busy = false;
      button.disabled = false;
      const again = v.captures.querySelector(`button[data-cls="${CSS.escape(cls)}"]`);
      if (again && document.activeElement === document.body) again.focus();
    }
  }

  async function refreshHead(v) {
    try {
      ({ data: v.head } = await ss.api('GET', `${API}/heads/${enc(v.headId)}`));
      const focusedCls = document.activeElement && document.activeElement.dataset
        ? document.activeElement.dataset.cls : '';
      renderHead(v);
      if (focusedCls) {
        const b = v.captures.querySelector(`button[data-cls="${CSS.escape(focusedCls)}"]`);
        if (b) b.focus();
      }
    } catch (e) {
      // shown on the next action
    }
    await loadExamples(v);
  }

  async function loadExamples(v) {
    let list = [];
    try {
      const { data } = await ss.api('GET', `${API}/heads/${enc(v.headId)}/examples`);
      list = (data && Array.isArray(data.examples)) ? data.examples : [];
    } catch (e) {
      return;
    }
    const shown = list.slice(-MAX_THUMBS).reverse(); // newest first
    v.thumbsHeading.textContent = `Examples (${list.length})`;
    const keep = new Set(shown.map((x) => String(x.id)));
    for (const [exId, url] of v.thumbUrls) {
      if (!keep.has(exId)) {
        URL.revokeObjectURL(url);
        v.thumbUrls.delete(exId);
      }
    }
    v.thumbs.replaceChildren();
    for (const ex of shown) {
      const exId = String(ex.id);
      const img = el('img', { alt: `Example ${exId}: ${ex.class}`, width: 96, height: 72 });
      const remove = el('button', {
        type: 'button', class: 'teach-remove link-button', text: 'Remove',
        'aria-label': `Remove example ${exId} (${ex.class})`,
      });
      remove.addEventListener('click', () => removeExample(v, exId));
      const li = el('li', { class: 'teach-thumb' }, img,
        el('span', { class: 'teach-thumb-class', text: ex.class }), remove);
      li.dataset.exampleId = exId;
      v.thumbs.append(li);
      const have = v.thumbUrls.get(exId);
      if (have) img.src = have;
      else if (typeof ex.image === 'string') loadThumb(v, exId, ex.image, img);
    }
  }

  async function loadThumb(v, exId, url, img) {
    try {
      const res = await fetch(url, { headers: ss.authHeaders({ Accept: 'image/jpeg' }), cache: 'no-store' });
      if (!res.ok) return;
      const u = URL.createObjectURL(await res.blob());
      v.thumbUrls.set(exId, u);
      img.src = u;
    } catch (e) {
      // a missing thumbnail is not worth an error line
    }
  }

  async function removeExample(v, exId) {
    setError(v, '');
    try {
      await ss.api('DELETE', `${API}/heads/${enc(v.headId)}/examples/${enc(exId)}`);
      ss.announce(`Example ${exId} removed.`);
      await refreshHead(v);
      const next = v.thumbs.querySelector('button') || v.captures.querySelector('button');
      if (next) next.focus();
    } catch (e) {
      if (e.status !== 401) setError(v, `Could not remove the example: ${e.message}`);
    }
  }

  async function train(v) {
    setError(v, '');
    v.trainBtn.disabled = true;
    v.report.textContent = 'Training…';
    try {
      const { data } = await ss.api('POST', `${API}/heads/${enc(v.headId)}/train`);
      v.report.textContent = describeReport(data);
      try {
        ({ data: v.head } = await ss.api('GET', `${API}/heads/${enc(v.headId)}`));
      } catch (e) {
        // the report is shown already
      }
    } catch (e) {
      v.report.textContent = v.head && v.head.training ? describeReport(v.head.training) : 'Not trained yet.';
      if (e.status !== 401) setError(v, `Could not train: ${e.message}`);
    } finally {
      v.trainBtn.disabled = false;
    }
  }

  // The head's scores in a prediction: "head" (labels "both") or, when
  // the stream lists the head's classes only, "classes" itself.
  function headScores(v, p) {
    if (Array.isArray(p.head)) return p.head;
    if (p.head && Array.isArray(p.head.classes)) return p.head.classes;
    const mode = v.info && v.info.labels;
    if (mode === 'head' && Array.isArray(p.classes)) return p.classes;
    return null;
  }

  function renderScores(v, p) {
    const list = headScores(v, p);
    if (!list || !v.open) return;
    const items = list.filter((c) => c && typeof c.label === 'string').slice(0, 8);
    while (v.scores.children.length > items.length) v.scores.lastChild.remove();
    items.forEach((c, i) => {
      let li = v.scores.children[i];
      if (!li) {
        li = el('li', null, el('span', { class: 'label-name' }), el('span', { class: 'label-score' }),
          el('span', { class: 'bar', 'aria-hidden': 'true' }, el('span', { class: 'bar-fill' })));
        v.scores.append(li);
      }
      const score = Math.min(1, Math.max(0, Number(c.score) || 0));
      li.children[0].textContent = c.label;
      li.children[1].textContent = pct(score);
      li.children[2].firstElementChild.style.transform = `scaleX(${score})`;
    });
  }

  document.addEventListener('streamsight:stream', (ev) => {
    const { id, card, info } = ev.detail || {};
    if (!id || !card) return;
    let v = views.get(id);
    if (!v || v.card !== card) {
      v = makeView(id, card);
      views.set(id, v);
    }
    v.info = info || v.info;
    v.name = (info && info.name) || id;
    v.button.setAttribute('aria-label', `Teach ${v.name}`);
  });
  document.addEventListener('streamsight:stream-removed', (ev) => {
    const v = views.get((ev.detail || {}).id);
    if (!v) return;
    for (const u of v.thumbUrls.values()) URL.revokeObjectURL(u);
    views.delete(v.id);
  });
  document.addEventListener('streamsight:prediction', (ev) => {
    const { id, prediction } = ev.detail || {};
    const v = views.get(id);
    if (v && prediction) renderScores(v, prediction);
  });
})();

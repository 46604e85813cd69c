/* mathlabel review workspace: a single page over the review API (api/v1/...), keyboard first, no framework. */
(() => {
  'use strict';

  const FILTER_KEYS = ['status', 'curriculum', 'run_id', 'reason', 'source', 'min_score', 'max_score', 'order'];
  const DEFAULT_FILTERS = { status: 'needs_review', order: 'uncertainty' };
  const PAGE_SIZE = 50;
  const MAX_CODES = 10;
  const READ_ONLY_TEXT = 'You do not have review permission (read-only)';
  const MATH_DELIMITERS = [
    { left: '$$', right: '$$', display: true },
    { left: '\\[', right: '\\]', display: true },
    { left: '$', right: '$', display: false },
    { left: '\\(', right: '\\)', display: false },
  ];

  const state = {
    me: { user: null, canReview: true },
    curricula: [],
    filters: { ...DEFAULT_FILTERS },
    queue: [],
    nextCursor: null,
    total: 0,
    reasons: {},
    index: -1, // position of the open document in the queue; -1 when it was opened from elsewhere
    doc: null,
    selected: [], // codes picked for a correction, in the order picked
    busy: false,
    queueSeq: 0, // request counters: a late answer to an older request is dropped
    docSeq: 0,
    searchSeq: 0,
    searchResults: [],
    searchActive: -1,
  };

  // ---------------------------------------------------------------- DOM helpers

  const $ = (id) => document.getElementById(id);

  /** Build an element; strings become text nodes, so user data is never parsed as HTML. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  /** Typeset LaTeX inside el; a bad formula is shown in red, never thrown. */
  function renderMath(el) {
    if (typeof window.renderMathInElement !== 'function') return;
    try {
      window.renderMathInElement(el, { delimiters: MATH_DELIMITERS, throwOnError: false, errorColor: '#c0392b' });
    } catch (err) {
      console.warn('math rendering failed', err);
    }
  }

  function mathText(tag, className, text) {
    const el = h(tag, { class: className, text: text || '' });
    renderMath(el);
    return el;
  }

  function formatTime(iso) {
    if (!iso) return '';
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
  }

  function formatScore(score) {
    return typeof score === 'number' ? score.toFixed(3) : '–';
  }

  const enc = encodeURIComponent; // doc ids hold '/', '#', '@' and ':'

  // ---------------------------------------------------------------- messages

  /** Show one status line; kind is info, success, warn or error. */
  function setMessage(kind, text, extra) {
    const box = $('message');
    box.replaceChildren(text, extra || '');
    box.dataset.kind = kind;
    box.title = '';
  }

  function loginLink() {
    const next = enc(window.location.href);
    return h('a', { href: `../auth/login?next=${next}`, target: '_top', text: 'log in to Airflow' });
  }

  function detailText(detail) {
    if (detail === null || detail === undefined) return '';
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) {
      // FastAPI validation errors: [{loc: [...], msg: "..."}]
      return detail.map((d) => (d && d.msg ? `${(d.loc || []).slice(1).join('.')}: ${d.msg}` : JSON.stringify(d))).join('; ');
    }
    return JSON.stringify(detail);
  }

  function showError(err, what) {
    const detail = detailText(err.body && err.body.detail);
    switch (err.status) {
      case 401:
        setMessage('error', 'You are not logged in - ', loginLink());
        break;
      case 403:
        setMessage('error', READ_ONLY_TEXT);
        if (detail) $('message').title = detail;
        break;
      case 404:
        setMessage('error', `Not found: ${what || detail}`);
        break;
      case 422:
        setMessage('error', `Refused: ${detail || 'invalid request'}`);
        break;
      case 428:
        setMessage('error', 'The request had no version (If-Match) - reload the page and try again');
        break;
      default:
        setMessage('error', detail || err.message || 'Something went wrong');
    }
  }

  function conflictText(current) {
    const history = (current && current.history) || [];
    const last = history.length ? history[history.length - 1] : null;
    const review = (current && current.review) || {};
    const by = review.by || (last && last.by) || 'someone';
    const at = formatTime(review.at || (last && last.at)) || 'an unknown time';
    return `Someone else changed this label first (by ${by} at ${at}) - reloaded their version`;
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, body) {
      super(detailText(body && body.detail) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  /** Call the review API; resolves with the JSON body or rejects with an ApiError. */
  async function api(path, { method = 'GET', body, version } = {}) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      headers['X-Requested-With'] = 'mathlabel';
    }
    if (version !== undefined && version !== null) headers['If-Match'] = String(version);
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, { detail: 'Network error: the review server did not answer' });
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (err) {
        data = { detail: text.slice(0, 300) };
      }
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // ---------------------------------------------------------------- filters and URL

  function readUrl() {
    const params = new URLSearchParams(window.location.search);
    for (const key of FILTER_KEYS) {
      if (params.has(key)) state.filters[key] = params.get(key);
    }
    return params.get('doc');
  }

  /** Keep the page's own URL in step so a reload (or a shared link) opens the same view. */
  function writeUrl() {
    const params = new URLSearchParams();
    for (const key of FILTER_KEYS) {
      const value = state.filters[key];
      if (value && value !== DEFAULT_FILTERS[key]) params.set(key, value);
    }
    if (state.doc) params.set('doc', state.doc.id);
    const query = params.toString();
    window.history.replaceState(null, '', query ? `?${query}` : window.location.pathname);
  }

  const FILTER_INPUTS = {
    status: 'f-status',
    curriculum: 'f-curriculum',
    run_id: 'f-run',
    reason: 'f-reason',
    source: 'f-source',
    min_score: 'f-min-score',
    max_score: 'f-max-score',
    order: 'f-order',
  };

  function ensureOption(select, value, label) {
    if (!value || [...select.options].some((o) => o.value === value)) return;
    select.append(h('option', { value, text: label || value }));
  }

  function fillFilterForm() {
    for (const [key, id] of Object.entries(FILTER_INPUTS)) {
      const input = $(id);
      const value = state.filters[key] || '';
      if (input.tagName === 'SELECT') ensureOption(input, value);
      input.value = value;
    }
  }

  function onFilterChange(event) {
    const key = event.target.name;
    if (!FILTER_KEYS.includes(key)) return;
    state.filters[key] = event.target.value.trim();
    if (event.target.tagName === 'SELECT') event.target.blur(); // give the keys back to the review
    writeUrl();
    loadQueue({ openFirst: true });
  }

  // ---------------------------------------------------------------- queue

  async function loadQueue({ append = false, openFirst = false } = {}) {
    const seq = ++state.queueSeq;
    const params = new URLSearchParams();
    for (const key of FILTER_KEYS) {
      if (state.filters[key]) params.set(key, state.filters[key]);
    }
    params.set('limit', String(PAGE_SIZE));
    if (append && state.nextCursor) params.set('cursor', state.nextCursor);
    $('queue-more').disabled = true;
    try {
      const page = await api(`api/v1/queue?${params}`);
      if (seq !== state.queueSeq) return false;
      state.queue = append ? state.queue.concat(page.items || []) : page.items || [];
      state.nextCursor = page.next_cursor || null;
      state.total = page.total || 0;
      state.reasons = page.reasons || {};
      state.index = state.doc ? state.queue.findIndex((item) => item.id === state.doc.id) : -1;
      renderQueue();
      renderReasons();
      if (openFirst && state.index < 0 && state.queue.length) openDoc(state.queue[0].id, 0);
      return true;
    } catch (err) {
      if (seq === state.queueSeq) showError(err, 'queue');
      return false;
    } finally {
      $('queue-more').disabled = false;
    }
  }

  function queueRow(item, index) {
    const reasons = (item.reason_kinds || []).map((kind) => h('span', { class: 'chip', text: kind }));
    return h(
      'li',
      {
        class: 'queue-row',
        dataset: { docId: item.id, status: item.status, index: String(index) },
        title: item.id,
        onclick: () => openDoc(item.id, index),
      },
      h(
        'div',
        { class: 'row-top' },
        h('span', { class: 'status-dot', title: item.status }),
        h('span', { class: 'row-id', text: item.problem_id || item.id }),
        item.source === 'page' ? h('span', { class: 'chip page', text: 'page' }) : null,
        h('span', { class: 'row-score', title: `score ${formatScore(item.score)}, margin ${formatScore(item.margin)}` },
          formatScore(item.score)),
      ),
      mathText('div', 'row-preview', item.preview),
      h('div', { class: 'row-meta' }, h('span', { class: 'row-code', text: item.code || '—' }), reasons),
    );
  }

  function renderQueue() {
    const list = $('queue');
    list.replaceChildren(...state.queue.map(queueRow));
    $('queue-more').hidden = !state.nextCursor;
    const shown = state.queue.length;
    $('queue-summary').textContent = shown ? `${shown} of ${state.total} shown` : 'Nothing to review with these filters.';
    markActiveRow();
  }

  function renderReasons() {
    const select = $('f-reason');
    const chosen = state.filters.reason || '';
    const entries = Object.entries(state.reasons).sort((a, b) => b[1] - a[1]);
    select.replaceChildren(
      h('option', { value: '', text: 'any' }),
      ...entries.map(([kind, count]) => h('option', { value: kind, text: `${kind} (${count})` })),
    );
    ensureOption(select, chosen);
    select.value = chosen;
    $('reason-counts').replaceChildren(
      ...entries.map(([kind, count]) =>
        h(
          'button',
          {
            type: 'button',
            class: kind === chosen ? 'reason-count active' : 'reason-count',
            dataset: { reason: kind },
            title: kind === chosen ? 'Show every reason' : `Only ${kind}`,
            onclick: () => {
              state.filters.reason = kind === chosen ? '' : kind;
              writeUrl();
              loadQueue({ openFirst: true });
            },
          },
          h('span', { text: kind }),
          h('b', { text: String(count) }),
        ),
      ),
    );
  }

  function markActiveRow() {
    let active = null;
    for (const row of $('queue').children) {
      const isActive = Boolean(state.doc) && row.dataset.docId === state.doc.id;
      row.classList.toggle('active', isActive);
      if (isActive) active = row;
    }
    if (active) active.scrollIntoView({ block: 'nearest' });
  }

  /** Reflect a document's new status and version in its queue row. */
  function updateRow(doc) {
    const item = state.queue.find((entry) => entry.id === doc.id);
    if (item) {
      item.status = doc.status;
      item.version = doc.version;
      if (doc.labels && doc.labels.length) item.code = doc.labels[0];
    }
    for (const row of $('queue').children) {
      if (row.dataset.docId !== doc.id) continue;
      row.dataset.status = doc.status;
      row.querySelector('.status-dot').title = doc.status;
      if (item) row.querySelector('.row-code').textContent = item.code || '—';
    }
  }

  /** Open the queue item delta steps away, fetching the next page when needed. */
  async function move(delta, { quiet = false } = {}) {
    const target = state.index < 0 ? (delta > 0 ? 0 : -1) : state.index + delta;
    if (target >= state.queue.length && state.nextCursor) await loadQueue({ append: true });
    if (target < 0) {
      if (!quiet) setMessage('info', 'This is the first problem in the queue');
      return false;
    }
    if (target >= state.queue.length) {
      if (!quiet) setMessage('info', 'End of the queue');
      return false;
    }
    await openDoc(state.queue[target].id, target);
    return true;
  }

  // ---------------------------------------------------------------- the document

  async function openDoc(id, index = -1) {
    const seq = ++state.docSeq;
    state.index = index;
    $('doc').classList.add('loading');
    try {
      const doc = await api(`api/v1/labels/${enc(id)}`);
      if (seq !== state.docSeq) return;
      showDoc(doc);
    } catch (err) {
      if (seq === state.docSeq) showError(err, id);
    } finally {
      if (seq === state.docSeq) $('doc').classList.remove('loading');
    }
  }

  function showDoc(doc) {
    state.doc = doc;
    state.selected = [];
    state.index = state.queue.findIndex((item) => item.id === doc.id);
    const panel = $('doc');
    panel.dataset.docId = doc.id;
    panel.dataset.version = String(doc.version);
    $('doc-empty').hidden = true;
    $('doc-body').hidden = false;
    $('decision').hidden = false;
    $('note').value = '';
    closeTextEdit();
    renderHeader(doc);
    renderPage(doc);
    renderText(doc);
    renderCandidates(doc);
    renderSelection();
    renderHistory(doc);
    markActiveRow();
    writeUrl();
    panel.scrollTop = 0;
  }

  function renderHeader(doc) {
    $('doc-title').textContent = doc.problem_id || doc.id;
    $('doc-title').title = doc.id;
    const badge = $('doc-status');
    badge.textContent = (doc.status || '').replace(/_/g, ' ');
    badge.dataset.status = doc.status || '';
    const md = doc.metadata || {};
    const where = [md.school, md.grade ? `${md.grade}학년` : null, md.course, md.unit].filter(Boolean).join(' · ');
    const meta = [doc.curriculum, doc.source, doc.run_id ? `run ${doc.run_id}` : null, `v${doc.version}`, where];
    $('doc-meta').textContent = meta.filter(Boolean).join(' · ');
    const labels = doc.labels && doc.labels.length ? doc.labels.join(', ') : 'none';
    const review = doc.review
      ? ` — ${doc.review.action || 'reviewed'} by ${doc.review.by} ${formatTime(doc.review.at)}`
      : '';
    $('doc-labels').replaceChildren('labels: ', h('b', { text: labels }), review);
    $('doc-reasons').replaceChildren(...(doc.reasons || []).map((reason) => h('li', { text: reason })));
  }

  function renderText(doc) {
    const isPage = doc.source === 'page';
    $('text-heading').textContent = isPage ? 'OCR text' : 'Problem';
    const text = $('doc-text');
    text.textContent = doc.text || '';
    renderMath(text);
    const rawOcr = isPage && doc.page ? doc.page.ocr_text || '' : '';
    $('raw-ocr').hidden = !rawOcr || rawOcr === doc.text;
    $('raw-ocr-text').textContent = rawOcr;
  }

  function renderPage(doc) {
    const view = $('page-view');
    const page = doc.source === 'page' ? doc.page : null;
    const regions = $('regions');
    regions.replaceChildren();
    const img = $('crop');
    img.onload = null;
    img.onerror = null;
    if (!page || !page.crop_url) {
      view.hidden = true;
      img.removeAttribute('src');
      return;
    }
    view.hidden = false;
    view.classList.remove('broken');
    const conf = typeof page.ocr_confidence === 'number' ? `OCR confidence ${(page.ocr_confidence * 100).toFixed(0)}%` : '';
    const count = (page.regions || []).length;
    $('page-caption').textContent = [`${count} region${count === 1 ? '' : 's'}`, conf].filter(Boolean).join(' · ');
    // Boxes are placed in percent of the crop's pixel size, so they follow the image however it is scaled.
    const place = (width, height) => {
      if (!width || !height) return;
      regions.replaceChildren(...(page.regions || []).map((region) => regionBox(region, width, height)));
    };
    img.onload = () => {
      if (!page.width || !page.height) place(img.naturalWidth, img.naturalHeight);
    };
    img.onerror = () => {
      view.classList.add('broken');
      $('page-caption').textContent = 'The page crop could not be loaded.';
    };
    img.src = page.crop_url;
    place(page.width, page.height);
  }

  function regionBox(region, width, height) {
    const [x0, y0, x1, y1] = region.box || [0, 0, 0, 0];
    const pct = (value, total) => `${((value / total) * 100).toFixed(3)}%`;
    const label = region.label || 'region';
    const box = h('div', {
      class: `region region-${label.replace(/[^a-z0-9_-]/gi, '')}`,
      dataset: { label },
      title: region.text ? `${label}: ${region.text}` : label,
    });
    box.style.left = pct(x0, width);
    box.style.top = pct(y0, height);
    box.style.width = pct(Math.max(0, x1 - x0), width);
    box.style.height = pct(Math.max(0, y1 - y0), height);
    return box;
  }

  function meterFill(fraction) {
    const fill = h('span');
    fill.style.width = `${(fraction * 100).toFixed(1)}%`;
    return fill;
  }

  function codeChip(entry) {
    return h('button', {
      type: 'button',
      class: 'code-chip',
      dataset: { code: entry.code },
      title: `${entry.text || ''}\n(click to add to the selection)`,
      text: entry.code,
      onclick: (event) => {
        event.stopPropagation();
        toggleCode(entry.code);
      },
    });
  }

  function renderCandidates(doc) {
    const labels = new Set(doc.labels || []);
    const items = (doc.candidates || []).map((cand) => {
      const links = [];
      if (cand.prerequisites && cand.prerequisites.length) {
        links.push(h('div', { class: 'links' }, h('span', { class: 'links-title', text: '선수 prerequisites' }),
          cand.prerequisites.map(codeChip)));
      }
      if (cand.related && cand.related.length) {
        links.push(h('div', { class: 'links' }, h('span', { class: 'links-title', text: '관련 related' }),
          cand.related.map(codeChip)));
      }
      const score = typeof cand.score === 'number' ? Math.max(0, Math.min(1, cand.score)) : 0;
      const explanation = cand.explanation
        ? h('div', { class: 'cand-expl' }, h('span', { class: 'links-title', text: '해설' }), mathText('span', '', cand.explanation))
        : null;
      return h(
        'li',
        {
          class: labels.has(cand.code) ? 'candidate current' : 'candidate',
          dataset: { rank: String(cand.rank), code: cand.code },
          onclick: () => toggleCode(cand.code),
        },
        h(
          'div',
          { class: 'cand-head' },
          h('kbd', { class: 'rank', text: String(cand.rank) }),
          h('span', { class: 'cand-code', text: cand.code }),
          labels.has(cand.code) ? h('span', { class: 'chip current', text: 'current label' }) : null,
          h('span', { class: 'cand-score', title: `score ${formatScore(cand.score)}` },
            h('span', { class: 'bar' }, meterFill(score)),
            formatScore(cand.score)),
        ),
        cand.breadcrumbs && cand.breadcrumbs.length
          ? h('div', { class: 'breadcrumbs', text: cand.breadcrumbs.join(' › ') })
          : null,
        mathText('div', 'cand-text', cand.text),
        explanation,
        links,
      );
    });
    $('candidates').replaceChildren(...(items.length ? items : [h('li', { class: 'empty', text: 'No candidates.' })]));
  }

  // ---------------------------------------------------------------- selection and decision

  function toggleCode(code) {
    if (!state.doc || !code) return;
    const at = state.selected.indexOf(code);
    if (at >= 0) state.selected.splice(at, 1);
    else if (state.selected.length >= MAX_CODES) {
      setMessage('error', `At most ${MAX_CODES} standards per problem`);
      return;
    } else state.selected.push(code);
    renderSelection();
  }

  function toggleRank(rank) {
    const cand = state.doc && (state.doc.candidates || []).find((c) => c.rank === rank);
    if (!cand) {
      setMessage('info', `There is no candidate ${rank}`);
      return;
    }
    toggleCode(cand.code);
  }

  /** Accept when nothing or only the top candidate is chosen; otherwise correct to the chosen codes. */
  function decision() {
    const top = state.doc && (state.doc.candidates || []).find((c) => c.rank === 1);
    const onlyTop = state.selected.length === 1 && top && state.selected[0] === top.code;
    if (!state.selected.length || onlyTop) return { action: 'accept', codes: [] };
    return { action: 'correct', codes: state.selected.slice() };
  }

  function renderSelection() {
    const chosen = new Set(state.selected);
    for (const el of document.querySelectorAll('#candidates [data-rank]')) {
      el.classList.toggle('selected', chosen.has(el.dataset.code));
    }
    for (const el of document.querySelectorAll('#search-results [data-search-code]')) {
      el.classList.toggle('selected', chosen.has(el.dataset.searchCode));
      el.setAttribute('aria-selected', String(chosen.has(el.dataset.searchCode)));
    }
    const { action, codes } = decision();
    const box = $('selection');
    if (!state.selected.length) {
      const labels = state.doc && state.doc.labels && state.doc.labels.length ? state.doc.labels.join(', ') : 'the label';
      box.replaceChildren(h('span', { class: 'hint', text: `Enter accepts ${labels}. Press 1–5 or search to choose others.` }));
    } else {
      box.replaceChildren(
        h('span', { class: 'hint', text: action === 'accept' ? 'Accept:' : 'Correct to:' }),
        ...state.selected.map((code) =>
          h('span', { class: 'sel-chip', dataset: { code } }, code,
            h('button', { type: 'button', title: `Remove ${code}`, text: '×', onclick: () => toggleCode(code) }))),
      );
    }
    $('accept-button').textContent =
      action === 'accept' ? 'Accept (Enter)' : `Correct → ${codes.length} standard${codes.length > 1 ? 's' : ''} (Enter)`;
  }

  function setBusy(busy) {
    state.busy = busy;
    document.body.classList.toggle('busy', busy);
    applyPermissions();
  }

  function applyPermissions() {
    const readOnly = !state.me.canReview;
    document.body.classList.toggle('read-only', readOnly);
    $('readonly-badge').hidden = !readOnly;
    for (const el of document.querySelectorAll('.write')) el.disabled = readOnly || state.busy;
  }

  /** POST one write with the version it is based on; returns the new LabelView or null after showing why not. */
  async function write(action, body) {
    const doc = state.doc;
    if (!doc) return null;
    if (!state.me.canReview) {
      setMessage('error', READ_ONLY_TEXT);
      return null;
    }
    if (state.busy) return null;
    setBusy(true);
    try {
      return await api(`api/v1/labels/${enc(doc.id)}/${action}`, { method: 'POST', body, version: doc.version });
    } catch (err) {
      if (err.status === 409 && err.body && err.body.current) {
        showDoc(err.body.current);
        updateRow(err.body.current);
        setMessage('warn', conflictText(err.body.current));
      } else {
        showError(err, doc.id);
      }
      return null;
    } finally {
      setBusy(false);
    }
  }

  /** Run a decision (accept, correct, reject), then move on to the next problem. */
  async function decide(action, body, verb) {
    const id = state.doc && (state.doc.problem_id || state.doc.id);
    const note = $('note').value.trim();
    if (note && body.note === undefined) body.note = note;
    const updated = await write(action, body);
    if (!updated) return;
    updateRow(updated);
    const done = `${verb} ${id} → ${(updated.status || '').replace(/_/g, ' ')} (v${updated.version})`;
    const moved = await move(1, { quiet: true });
    if (!moved) showDoc(updated);
    setMessage('success', moved ? done : `${done}. That was the last problem in the queue.`);
  }

  function submitDecision() {
    if (!state.doc) return;
    const { action, codes } = decision();
    if (action === 'accept') decide('accept', {}, 'Accepted');
    else decide('correct', { codes }, `Corrected to ${codes.join(', ')}:`);
  }

  // ---------------------------------------------------------------- reject dialog

  function openReject() {
    if (!state.doc) return;
    if (!state.me.canReview) {
      setMessage('error', READ_ONLY_TEXT);
      return;
    }
    $('reject-reason').value = 'not_math';
    $('reject-note').value = '';
    $('reject').showModal();
    $('reject-reason').focus();
  }

  function confirmReject() {
    const dialog = $('reject');
    if (!dialog.open) return;
    const reason = $('reject-reason').value;
    const note = $('reject-note').value.trim();
    dialog.close();
    decide('reject', note ? { reason, note } : { reason }, `Rejected (${reason})`);
  }

  function onRejectKey(event) {
    const otherButton = event.target.tagName === 'BUTTON' && event.target.id !== 'reject-confirm';
    if (event.key === 'Enter' && !otherButton) {
      event.preventDefault();
      confirmReject();
    } else if (/^[1-4]$/.test(event.key) && event.target.id !== 'reject-note') {
      event.preventDefault();
      $('reject-reason').selectedIndex = Number(event.key) - 1;
    }
  }

  // ---------------------------------------------------------------- text edit

  function openTextEdit() {
    if (!state.doc) return;
    if (!state.me.canReview) {
      setMessage('error', READ_ONLY_TEXT);
      return;
    }
    $('text-form').hidden = false;
    $('text-input').value = state.doc.text || '';
    $('text-input').focus();
  }

  function closeTextEdit() {
    $('text-form').hidden = true;
  }

  async function saveText(event) {
    event.preventDefault();
    const text = $('text-input').value;
    if (!text.trim()) {
      setMessage('error', 'The text cannot be empty');
      return;
    }
    const updated = await write('text', { text });
    if (!updated) return;
    showDoc(updated);
    updateRow(updated);
    setMessage('success', `Text saved (v${updated.version})`);
  }

  // ---------------------------------------------------------------- standards search

  let searchTimer = null;

  function searchCurriculum() {
    if (state.doc && state.doc.curriculum) return state.doc.curriculum;
    if (state.filters.curriculum) return state.filters.curriculum;
    return state.curricula.length ? state.curricula[0].id : '';
  }

  function onSearchInput() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 200);
  }

  async function runSearch() {
    const q = $('standard-search').value.trim();
    const seq = ++state.searchSeq;
    if (!q) {
      renderSearch([]);
      return;
    }
    const params = new URLSearchParams({ q, limit: '20' });
    const curriculum = searchCurriculum();
    if (curriculum) params.set('curriculum', curriculum);
    try {
      const results = await api(`api/v1/standards?${params}`);
      if (seq === state.searchSeq) renderSearch(results || []);
    } catch (err) {
      if (seq === state.searchSeq) showError(err, 'standards');
    }
  }

  function renderSearch(results) {
    state.searchResults = results;
    state.searchActive = results.length ? 0 : -1;
    const q = $('standard-search').value.trim();
    const items = results.map((std, i) =>
      h(
        'li',
        { role: 'option', id: `search-result-${i}` },
        h(
          'button',
          {
            type: 'button',
            class: 'search-result',
            dataset: { searchCode: std.code },
            tabindex: '-1',
            onclick: () => toggleCode(std.code),
          },
          h('span', { class: 'cand-code', text: std.code }),
          std.breadcrumbs && std.breadcrumbs.length
            ? h('span', { class: 'breadcrumbs', text: std.breadcrumbs.join(' › ') })
            : null,
          mathText('span', 'search-text', std.text),
        ),
      ),
    );
    if (!items.length && q) items.push(h('li', { class: 'empty', text: 'No standard found.' }));
    $('search-results').replaceChildren(...items);
    markSearchActive();
    renderSelection();
  }

  function markSearchActive() {
    const buttons = document.querySelectorAll('#search-results [data-search-code]');
    buttons.forEach((button, i) => button.classList.toggle('active', i === state.searchActive));
    const input = $('standard-search');
    if (state.searchActive >= 0) input.setAttribute('aria-activedescendant', `search-result-${state.searchActive}`);
    else input.removeAttribute('aria-activedescendant');
    const active = buttons[state.searchActive];
    if (active) active.scrollIntoView({ block: 'nearest' });
  }

  function onSearchKey(event) {
    const count = state.searchResults.length;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!count) return;
      const step = event.key === 'ArrowDown' ? 1 : -1;
      state.searchActive = (state.searchActive + step + count) % count;
      markSearchActive();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      clearTimeout(searchTimer);
      const result = state.searchResults[state.searchActive];
      if (result) toggleCode(result.code);
      else runSearch();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.target.blur(); // back to the review keys
    }
  }

  // ---------------------------------------------------------------- history

  function change(before, after) {
    const b = before || {};
    const a = after || {};
    const parts = [];
    if (b.status !== a.status) parts.push(`${b.status || '—'} → ${a.status || '—'}`);
    const bl = (b.labels || []).join(', ');
    const al = (a.labels || []).join(', ');
    if (bl !== al) parts.push(`${bl || '—'} → ${al || '—'}`);
    if (b.version !== undefined || a.version !== undefined) parts.push(`v${b.version ?? '?'} → v${a.version ?? '?'}`);
    return parts.join(' · ');
  }

  function renderHistory(doc) {
    const events = (doc.history || []).slice().reverse();
    const versions = doc.versions || [];
    const audit = events.length
      ? h('ol', { class: 'events' },
        events.map((ev) =>
          h('li', { class: 'event', dataset: { action: ev.action || '' } },
            h('div', {}, h('b', { text: ev.action || 'change' }), ` by ${ev.by || '?'} `,
              h('time', { datetime: ev.at || '', text: formatTime(ev.at) })),
            h('div', { class: 'meta', text: change(ev.before, ev.after) }),
            ev.note ? h('div', { class: 'note', text: ev.note }) : null)))
      : h('p', { class: 'empty', text: 'No review yet.' });
    const others = versions.length
      ? h('ul', { class: 'versions' },
        versions.map((v) =>
          h('li', { class: v.id === doc.id ? 'version this' : 'version' },
            h('button', {
              type: 'button',
              class: 'link',
              dataset: { versionId: v.id },
              title: v.id,
              disabled: v.id === doc.id,
              text: `${v.model_version || '?'}${v.current ? ' ★' : ''}`,
              onclick: () => openDoc(v.id),
            }),
            h('span', { class: 'meta', text: ` ${v.status || ''} · ${formatTime(v.created_at)}` }))))
      : h('p', { class: 'empty', text: 'No other versions.' });
    $('history').replaceChildren(h('h4', { text: 'Audit trail' }), audit, h('h4', { text: 'Model versions' }), others);
  }

  // ---------------------------------------------------------------- keyboard

  function isTyping(target) {
    return Boolean(target && target.closest && target.closest('input, textarea, select, [contenteditable="true"]'));
  }

  function toggleHelp() {
    const help = $('help');
    if (help.open) help.close();
    else help.showModal();
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const openDialog = document.querySelector('dialog[open]');
    if (openDialog) {
      if (openDialog.id === 'help' && (event.key === '?' || event.key === 'Escape')) {
        event.preventDefault();
        openDialog.close();
      }
      return; // the reject dialog handles its own keys
    }
    if (isTyping(event.target)) return;
    const key = event.key;
    if (/^[1-5]$/.test(key)) {
      toggleRank(Number(key));
    } else if (key === 'Enter') {
      if (event.target.closest('button, a, summary')) return; // let the focused control act
      submitDecision();
    } else if (key === '/') {
      $('standard-search').focus();
      $('standard-search').select();
    } else if (key === 'x') {
      openReject();
    } else if (key === 'e') {
      openTextEdit();
    } else if (key === 'j') {
      move(1);
    } else if (key === 'k') {
      move(-1);
    } else if (key === '?') {
      toggleHelp();
    } else if (key === 'Escape') {
      if (state.selected.length) {
        state.selected = [];
        renderSelection();
      }
      return;
    } else {
      return;
    }
    event.preventDefault();
  }

  // ---------------------------------------------------------------- start

  async function loadMe() {
    try {
      const me = await api('api/v1/me');
      state.me = { user: me.user, canReview: Boolean(me.can_review) };
      $('user').textContent = me.user || '';
      applyPermissions();
      return true;
    } catch (err) {
      showError(err, 'me');
      return err.status !== 401;
    }
  }

  async function loadCurricula() {
    try {
      state.curricula = (await api('api/v1/curricula')) || [];
    } catch (err) {
      state.curricula = [];
    }
    const select = $('f-curriculum');
    select.replaceChildren(
      h('option', { value: '', text: 'all' }),
      ...state.curricula.map((c) => h('option', { value: c.id, text: c.name ? `${c.id} · ${c.name}` : c.id })),
    );
    ensureOption(select, state.filters.curriculum);
    select.value = state.filters.curriculum || '';
  }

  function bind() {
    document.addEventListener('keydown', onKey);
    $('filters').addEventListener('change', onFilterChange);
    $('filters').addEventListener('submit', (event) => event.preventDefault());
    $('queue-more').addEventListener('click', () => loadQueue({ append: true }));
    $('accept-button').addEventListener('click', submitDecision);
    $('reject-button').addEventListener('click', openReject);
    $('reject').addEventListener('keydown', onRejectKey);
    $('reject-form').addEventListener('submit', (event) => {
      event.preventDefault();
      confirmReject();
    });
    $('reject-cancel').addEventListener('click', () => $('reject').close());
    $('edit-text').addEventListener('click', openTextEdit);
    $('text-form').addEventListener('submit', saveText);
    $('text-cancel').addEventListener('click', closeTextEdit);
    $('text-input').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) saveText(event);
      else if (event.key === 'Escape') {
        event.preventDefault();
        closeTextEdit();
      }
    });
    $('note').addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        submitDecision();
      } else if (event.key === 'Escape') event.target.blur();
    });
    $('standard-search').addEventListener('input', onSearchInput);
    $('standard-search').addEventListener('keydown', onSearchKey);
    $('help-button').addEventListener('click', toggleHelp);
  }

  async function start() {
    bind();
    const docId = readUrl();
    fillFilterForm();
    const [allowed] = await Promise.all([loadMe(), loadCurricula()]);
    if (!allowed) return; // not logged in: keep the login link on screen
    if (docId) openDoc(docId);
    await loadQueue({ openFirst: !docId });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

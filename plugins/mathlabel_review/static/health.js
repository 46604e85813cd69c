/* mathlabel Health page: plots over the last labeling runs, drawn as inline SVG from api/v1/health. No chart library,
   nothing fetched from another host. Each run's point links to its report (api/v1/runs/<run id>/report). */
(function () {
  'use strict';

  const SVG = 'http://www.w3.org/2000/svg';
  const W = 560, H = 230;
  const PAD = { left: 52, right: 16, top: 16, bottom: 42 };
  const COLORS = { review: '#c0392b', auto: '#1a7f37', ocr: '#7b3fb5', speed: '#0b6bcb', quarantined: '#9a6700',
                   unfinished: '#c0392b', queue: '#0b6bcb', agreement: '#1a7f37' };

  const $ = (id) => document.getElementById(id);
  const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
  const num = (v, digits = 2) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits));

  function el(name, attrs = {}, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function html(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setMessage(kind, text, link) {
    const box = $('message');
    box.dataset.kind = kind;
    box.textContent = text;
    if (link) box.append(link);
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
    return `${(seconds / 86400).toFixed(1)} days`;
  }

  /* "2026-12-02T18:44:16+00:00" -> "12-02 18:44" (UTC, as the reports record it). */
  function when(iso) {
    return iso ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : '';
  }

  /* A run id short enough for an axis: Airflow's "manual__2026-12-02T15:23:25+00:00" keeps its time. */
  function short(runId) {
    const id = String(runId).replace(/^(manual|scheduled|backfill|asset_triggered)__/, '');
    return id.length > 16 ? `${id.slice(0, 15)}…` : id;
  }

  function reportHref(run) {
    return `api/v1/runs/${encodeURIComponent(run.run_id)}/report`;
  }

  /* A round step giving about five ticks up to `peak`. */
  function niceMax(peak) {
    if (!(peak > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(peak));
    for (const f of [1, 2, 4, 6, 8, 10]) if (peak <= f * power) return f * power; // quarters stay round
    return 10 * power;
  }

  function emptyChart(figure, text) {
    const note = html('p', { class: 'chart-empty' }, text);
    figure.append(note);
    figure.dataset.empty = 'true';
  }

  /* The frame of a run chart: y grid with labels, x labels of a few runs, and a legend. Returns helpers. */
  function frame(figure, runs, yMax, yLabel, legend, band = false) {
    const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': figure.querySelector('figcaption').textContent });
    const plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
    // Points sit on the runs' positions end to end; bars in equal bands, so the first and last stay inside.
    const x = band ? (i) => PAD.left + (plotW * (i + 0.5)) / runs.length
      : (i) => PAD.left + (runs.length === 1 ? plotW / 2 : (plotW * i) / (runs.length - 1));
    const y = (v) => PAD.top + plotH - (plotH * v) / yMax;
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4;
      svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
      svg.append(el('text', { x: PAD.left - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, yLabel(v)));
    }
    // A few runs named on the x axis: their time, or their id when runs finished within the same minute.
    const every = Math.max(1, Math.ceil(runs.length / 5));
    const times = runs.map((r) => when(r.finished_at));
    const named = new Set(times).size === times.length ? times : runs.map((r) => short(r.run_id));
    runs.forEach((run, i) => {
      if (i % every && i !== runs.length - 1) return;
      if (i !== runs.length - 1 && runs.length - 1 - i < every / 2) return; // too close to the last one's label
      const anchor = band || runs.length === 1 ? 'middle' : i === 0 ? 'start' : i === runs.length - 1 ? 'end' : 'middle';
      svg.append(el('text', { x: x(i), y: H - PAD.bottom + 16, class: 'tick', 'text-anchor': anchor }, named[i]));
    });
    svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), class: 'axis' }));
    let lx = PAD.left;
    for (const [label, color, dashed] of legend) {
      svg.append(el('line', { x1: lx, x2: lx + 16, y1: H - 10, y2: H - 10, stroke: color, 'stroke-width': 2,
                              'stroke-dasharray': dashed ? '4 3' : 'none' }));
      svg.append(el('text', { x: lx + 20, y: H - 6, class: 'legend' }, label));
      lx += 28 + label.length * 6.2;
    }
    figure.append(svg);
    return { svg, x, y, plotW };
  }

  /* A point (or bar) that opens its run's report. */
  function linked(svg, run, shape, tip) {
    const a = el('a', { href: reportHref(run), target: '_blank', class: 'run-link' });
    shape.setAttribute('data-run', run.run_id);
    shape.append(el('title', {}, tip));
    a.append(shape);
    svg.append(a);
  }

  /* Lines over the runs, one per series; a run without a value leaves a gap. */
  function lineChart(id, runs, series, { yMax, format, baseline }) {
    const figure = $(id);
    const values = series.flatMap((s) => runs.map((r) => r[s.key])).filter((v) => v !== null && v !== undefined);
    if (!runs.length) return emptyChart(figure, 'No runs yet.');
    if (!values.length) return emptyChart(figure, series[0].none);
    const top = yMax || niceMax(Math.max(...values, ...series.map((s) => (baseline && baseline[s.key]) || 0)) * 1.1);
    const legend = series.map((s) => [s.label, s.color, false]);
    if (baseline) legend.push(['baseline', '#5f6b78', true]);
    const { svg, x, y } = frame(figure, runs, top, format, legend);
    for (const s of series) {
      if (baseline && baseline[s.key] !== null && baseline[s.key] !== undefined) {
        svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: y(baseline[s.key]), y2: y(baseline[s.key]),
                                stroke: s.color, class: 'baseline' }));
      }
      let path = '', pen = 'M';
      runs.forEach((run, i) => {
        const v = run[s.key];
        if (v === null || v === undefined) { pen = 'M'; return; } // a gap: the next value starts a new segment
        path += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
        pen = 'L';
      });
      svg.append(el('path', { d: path.trim(), stroke: s.color, class: 'series', 'data-series': s.key }));
      runs.forEach((run, i) => {
        const v = run[s.key];
        if (v === null || v === undefined) return;
        const dot = el('circle', { cx: x(i), cy: y(v), r: 4, fill: s.color, class: 'point', 'data-series': s.key });
        linked(svg, run, dot, `${run.run_id} (${when(run.finished_at)}): ${s.label} ${format(v)}`);
      });
    }
  }

  /* Bars per run, side by side for each series. */
  function barChart(id, runs, series, { format, none }) {
    const figure = $(id);
    if (!runs.length) return emptyChart(figure, 'No runs yet.');
    const values = series.flatMap((s) => runs.map((r) => r[s.key] || 0));
    const top = niceMax(Math.max(...values, 4)); // whole-number ticks
    const { svg, x, y, plotW } = frame(figure, runs, top, format, series.map((s) => [s.label, s.color, false]), true);
    const slot = Math.min(36, (plotW / Math.max(runs.length, 1)) * 0.7);
    const bar = Math.max(2, slot / series.length);
    runs.forEach((run, i) => {
      series.forEach((s, k) => {
        const v = run[s.key] || 0;
        const left = x(i) - slot / 2 + k * bar;
        const rect = el('rect', { x: left, y: y(v) - (v ? 0 : 1), width: Math.max(1, bar - 1), height: Math.max(1, y(0) - y(v)),
                                  fill: s.color, class: v ? 'point hbar' : 'point hbar zero', 'data-series': s.key });
        linked(svg, run, rect, `${run.run_id} (${when(run.finished_at)}): ${s.label} ${format(v)}`);
      });
    });
    if (!values.some((v) => v)) {
      svg.append(el('text', { x: PAD.left + plotW / 2, y: PAD.top + 40, class: 'legend', 'text-anchor': 'middle' }, none));
    }
  }

  /* Horizontal bars: the share of reviews that kept the model's top-1, per model version and curriculum. */
  function agreementChart(rows) {
    const figure = $('chart-agreement');
    if (!rows.length) {
      return emptyChart(figure, 'No reviews yet: agreement shows once reviewers accept, correct or reject labels.');
    }
    const shown = rows.slice(0, 8);
    const rowH = 26, left = 200, right = 96, height = PAD.top + shown.length * rowH + 28;
    const svg = el('svg', { viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': 'reviewer agreement per model version' });
    const width = W - left - right;
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      const gx = left + width * v;
      svg.append(el('line', { x1: gx, x2: gx, y1: PAD.top - 4, y2: height - 24, class: 'grid' }));
      svg.append(el('text', { x: gx, y: height - 8, class: 'tick', 'text-anchor': 'middle' }, pct(v).replace('.0', '')));
    }
    shown.forEach((row, i) => {
      const top = PAD.top + i * rowH;
      svg.append(el('text', { x: left - 8, y: top + 15, class: 'label', 'text-anchor': 'end' },
                    `${row.model_version}${row.curriculum ? ` · ${row.curriculum}` : ''}`));
      svg.append(el('rect', { x: left, y: top + 3, width, height: rowH - 8, class: 'track' }));
      const bar = el('rect', { x: left, y: top + 3, width: Math.max(1, width * row.agreement), height: rowH - 8,
                               fill: COLORS.agreement, class: 'point hbar', 'data-model': row.model_version });
      bar.append(el('title', {}, `${row.model_version} (${row.curriculum}): kept the top-1 in ${row.kept_top1} of ` +
                                 `${row.reviews} reviews, ${row.rejected} rejected`));
      svg.append(bar);
      svg.append(el('text', { x: left + width + 6, y: top + 15, class: 'label' }, `${pct(row.agreement)} of ${row.reviews}`));
    });
    figure.append(svg);
  }

  function tile(label, value, note, kind) {
    const box = html('div', { class: `tile${kind ? ` ${kind}` : ''}` });
    box.append(html('div', { class: 'tile-label' }, label), html('div', { class: 'tile-value' }, value));
    if (note) box.append(html('div', { class: 'tile-note' }, note));
    return box;
  }

  function overview(data) {
    const box = $('overview');
    box.replaceChildren();
    const latest = data.runs[data.runs.length - 1];
    const base = data.latest_baseline;
    if (latest) {
      const link = html('a', { href: reportHref(latest), target: '_blank' }, latest.run_id);
      const runTile = tile('Latest run', '', `${when(latest.finished_at)} · ${latest.problems} problems`);
      runTile.querySelector('.tile-value').append(link);
      box.append(runTile);
      const vs = (key, fmt) => (base && base[key] !== null && base[key] !== undefined ? `baseline ${fmt(base[key])}` : 'no baseline yet');
      box.append(tile('Needs review', pct(latest.needs_review_rate), vs('needs_review_rate', pct)));
      box.append(tile('Auto-accepted', pct(latest.auto_accept_rate), vs('auto_accept_rate', pct)));
    } else {
      box.append(tile('Latest run', 'none yet', 'no report written'));
    }
    const reviews = data.agreement.reduce((n, r) => n + r.reviews, 0);
    const kept = data.agreement.reduce((n, r) => n + r.kept_top1, 0);
    box.append(tile('Reviewer agreement', reviews ? pct(kept / reviews) : '–', reviews ? `${reviews} review${reviews === 1 ? '' : 's'}` : 'no reviews yet'));
    const q = data.queue;
    box.append(tile('Review queue', String(q.size), q.size ? `oldest waits ${age(q.oldest_age_seconds)}` : 'empty',
                    q.size ? '' : 'ok'));
  }

  function render(data) {
    const runs = data.runs.map((r) => ({ ...r, in_queue: data.queue.by_run[r.run_id] || 0 }));
    for (const figure of document.querySelectorAll('figure.chart')) {
      figure.querySelectorAll(':scope > :not(figcaption)').forEach((n) => n.remove());
      delete figure.dataset.empty;
    }
    overview(data);
    $('empty-runs').hidden = runs.length > 0;
    const base = data.latest_baseline;
    lineChart('chart-rates', runs, [
      { key: 'needs_review_rate', label: 'needs review', color: COLORS.review, none: 'No run stored a label yet.' },
      { key: 'auto_accept_rate', label: 'auto-accepted', color: COLORS.auto },
    ], { yMax: 1, format: (v) => `${Math.round(v * 100)}%`, baseline: base });
    agreementChart(data.agreement);
    lineChart('chart-ocr', runs, [
      { key: 'ocr_confidence_mean', label: 'mean OCR confidence', color: COLORS.ocr,
        none: 'No run read a page or an image yet: OCR confidence shows once one does.' },
    ], { yMax: 1, format: (v) => num(v, 2), baseline: base });
    lineChart('chart-throughput', runs, [
      { key: 'problems_per_second', label: 'problems / s', color: COLORS.speed,
        none: 'No run labeled a new problem yet (runs that find every problem labeled skip them).' },
    ], { format: (v) => (v >= 10 || v === 0 ? String(Math.round(v)) : num(v, 1)), baseline: base });
    barChart('chart-errors', runs, [
      { key: 'quarantined', label: 'quarantined records', color: COLORS.quarantined },
      { key: 'unfinished', label: 'unfinished files', color: COLORS.unfinished },
    ], { format: (v) => String(Math.round(v)), none: 'Nothing quarantined, no failed task.' });
    barChart('chart-queue', runs, [
      { key: 'in_queue', label: 'still needs review', color: COLORS.queue },
    ], { format: (v) => String(Math.round(v)), none: 'Every label of these runs is decided.' });
    document.body.dataset.loaded = 'true';
  }

  async function load() {
    const limit = $('limit').value;
    const response = await fetch(`api/v1/health?limit=${encodeURIComponent(limit)}`, {
      credentials: 'same-origin', headers: { Accept: 'application/json' },
    });
    if (response.status === 401) {
      const link = html('a', { href: './health' }, 'log in');
      setMessage('error', 'You are not logged in - ', link);
      return;
    }
    if (!response.ok) {
      setMessage('error', `Cannot read the measures (HTTP ${response.status})`);
      return;
    }
    const data = await response.json();
    render(data);
    setMessage('info', `${data.runs.length} run${data.runs.length === 1 ? '' : 's'} · measured ${when(data.generated_at)} UTC`);
  }

  async function who() {
    const response = await fetch('api/v1/me', { credentials: 'same-origin' });
    if (response.ok) $('user').textContent = (await response.json()).user;
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('limit').addEventListener('change', () => load().catch((e) => setMessage('error', String(e))));
    who().catch(() => {});
    load().catch((e) => setMessage('error', String(e)));
  });
})();

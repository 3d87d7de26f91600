#include "controller/web/assets.h"

namespace firedrill::controller::web {

const char* const kPageShell = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="fd-csrf" content="{csrf}">
<meta name="fd-identity" content="{identity}">
<meta name="fd-roles" content="{roles}">
<meta name="fd-leader" content="{leader}">
<meta name="fd-controller" content="{controller}">
<title>firedrill</title>
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
</head>
<body data-page="{page}" data-id="{id}">
<header>
  <a class="brand" href="/fleet">firedrill</a>
  <nav><a href="/fleet" id="nav-fleet">Fleet</a><a href="/runs" id="nav-runs">Runs</a><a href="/schedules" id="nav-schedules">Schedules</a><a href="/findings" id="nav-findings">Findings</a></nav>
  <span class="who" id="who"></span>
  <span class="live" id="live" title="live updates">&#9679;</span>
  <span id="halt-slot"></span>
</header>
<div id="leader" class="banner follower" hidden></div>
<div id="halted" class="banner halted" hidden></div>
<div id="flash" class="banner flash" hidden></div>
<main id="main"><p class="muted">Loading&hellip;</p></main>
<dialog id="confirm-halt">
  <form method="dialog" id="halt-form">
    <h2>Halt the whole fleet?</h2>
    <p>Every fault on every host is reverted now, every run in flight is aborted, and no run starts until someone releases the halt.</p>
    <label>Reason <input id="halt-reason" name="reason" value="halted from the dashboard" size="40"></label>
    <div class="buttons"><button value="cancel" id="halt-cancel">Cancel</button><button value="halt" id="halt-confirm" class="danger">Halt the fleet</button></div>
  </form>
</dialog>
</body>
</html>
)HTML";

const char* const kLoginPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>firedrill: sign in</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body data-page="login">
<main class="login">
<h1>firedrill</h1>
<p class="error" id="login-error">{message}</p>
<p>Sign in with a client certificate of the fleet's CA (<code>firedrill certs user --name NAME --role ROLE</code>, imported into this browser), or open a login link made for you on the controller with <code>firedrill web login --as NAME</code>. A link works once, for a few minutes.</p>
</main>
</body>
</html>
)HTML";

const char* const kStyleCss = R"CSS(
:root { --bg:#111418; --fg:#e6e6e6; --muted:#8b949e; --line:#2b3036; --ok:#3fb950; --bad:#f85149; --warn:#d29922; --accent:#58a6ff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:15px/1.4 system-ui, sans-serif; }
header { display:flex; align-items:center; gap:1.5em; padding:.6em 1.2em; border-bottom:1px solid var(--line); }
header .brand { font-weight:700; font-size:1.2em; color:var(--fg); text-decoration:none; }
nav a { margin-right:1em; color:var(--accent); text-decoration:none; }
.who { margin-left:auto; color:var(--muted); }
.live { color:var(--muted); } .live.on { color:var(--ok); }
main { padding:1em 1.2em; }
main.login { max-width:40em; margin:4em auto; }
a { color:var(--accent); }
table { border-collapse:collapse; width:100%; margin:.5em 0 1.5em; }
th, td { text-align:left; padding:.3em .6em; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; }
tr.click { cursor:pointer; } tr.click:hover { background:#1b2027; }
.muted { color:var(--muted); } .error { color:var(--bad); }
.ok, .pass, .passed { color:var(--ok); } .bad, .fail, .failed, .aborted, .refused { color:var(--bad); }
.sev-critical, .sev-high { color:var(--bad); font-weight:600; } .sev-medium { color:var(--warn); }
.warn { color:var(--warn); }
.banner { padding:.6em 1.2em; font-weight:600; }
.banner.follower { background:#1f2a3a; } .banner.halted { background:#4a1414; } .banner.flash { background:#2a2a14; }
button { font:inherit; padding:.35em .9em; border-radius:4px; border:1px solid var(--line); background:#21262d; color:var(--fg); cursor:pointer; }
button.danger { background:#b62324; border-color:#f85149; color:#fff; font-weight:700; }
button.halt { font-size:1.1em; padding:.45em 1.4em; letter-spacing:.05em; }
input, select { font:inherit; background:#0d1117; color:var(--fg); border:1px solid var(--line); padding:.3em .5em; border-radius:4px; }
.filters { display:flex; gap:.8em; align-items:center; margin-bottom:.8em; flex-wrap:wrap; }
.cards { display:flex; gap:1em; flex-wrap:wrap; margin:.5em 0 1em; }
.card { border:1px solid var(--line); border-radius:6px; padding:.6em 1em; min-width:9em; }
.card b { display:block; font-size:1.6em; }
.charts { display:grid; grid-template-columns:repeat(auto-fill, minmax(480px, 1fr)); gap:1em; }
.chart { border:1px solid var(--line); border-radius:6px; padding:.5em; }
.chart h3 { margin:.2em 0 .4em; font-size:1em; }
svg text { fill:var(--muted); font-size:11px; }
svg .axis { stroke:var(--line); } svg .thr { stroke:var(--warn); stroke-dasharray:6 4; }
svg .fault { fill:#f8514922; } svg .pt-ok { fill:var(--ok); } svg .pt-bad { fill:var(--bad); }
dialog { background:#161b22; color:var(--fg); border:1px solid var(--bad); border-radius:8px; max-width:36em; }
dialog::backdrop { background:#000a; }
.buttons { display:flex; gap:1em; justify-content:flex-end; margin-top:1em; }
.phase { font-size:1.3em; font-weight:700; }
ol.timeline { list-style:none; padding:0; } ol.timeline li { padding:.15em 0; border-bottom:1px dotted var(--line); }
code { background:#0d1117; padding:.1em .3em; border-radius:3px; }
)CSS";

const char* const kAppJs = R"JS('use strict';
// The dashboard's one script: renders the page named by <body data-page> from the
// controller's JSON (/api/...) and keeps it current from /events (Server-Sent Events).
(function () {
  const meta = (n) => (document.querySelector('meta[name="' + n + '"]') || {}).content || '';
  const csrf = meta('fd-csrf');
  const roles = meta('fd-roles').split(' ');
  const can = (r) => roles.includes(r) || roles.includes('admin');
  const page = document.body.dataset.page;
  const runId = document.body.dataset.id;
  const main = document.getElementById('main');

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  function table(head, rows) {
    return el('table', {}, el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))), el('tbody', {}, rows));
  }
  async function get(url) {
    const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }
  async function post(url, body) {
    const r = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body || {}),
    });
    const out = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(out.error || r.statusText);
    return out;
  }
  function flash(text, bad) {
    const f = document.getElementById('flash');
    f.textContent = text; f.hidden = !text; f.className = 'banner flash' + (bad ? ' error' : '');
  }
  const ms = (t) => (t ? Date.parse(t) : 0);
  const when = (t) => (t ? new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
  const dur = (d) => {
    if (!d) return '';
    const v = parseFloat(d);
    return v < 1 ? (v * 1000).toFixed(v < 0.01 ? 2 : 0) + ' ms' : v.toFixed(1) + ' s';
  };
  function left(expiry, now) {
    if (!expiry) return '';
    const s = Math.max(0, Math.round((expiry - now) / 1000));
    return s >= 60 ? Math.floor(s / 60) + 'm ' + (s % 60) + 's' : s + 's';
  }
  const lower = (s, p) => (s || '').replace(p, '').toLowerCase();
  // The page first drawn with its data: what a person can use (scripts/bench.sh web reads it).
  const drawn = () => { if (!performance.getEntriesByName('fd-drawn').length) performance.mark('fd-drawn'); };
  function debounce(f, wait) {
    let t = null;
    return () => { if (!t) t = setTimeout(() => { t = null; f(); }, wait); };
  }

  // ---- header: who, leader, halt
  document.getElementById('who').textContent = meta('fd-identity') + ' (' + roles.join(', ') + ')';
  const leader = meta('fd-leader');
  if (leader) {
    const b = document.getElementById('leader');
    b.hidden = false;
    b.textContent = 'This controller (' + meta('fd-controller') + ') is a follower: ' + leader +
      '. Pages show what the shared store holds; a halt is recorded for the leader, every other action is the leader\'s.';
  }
  const dialog = document.getElementById('confirm-halt');
  if (can('operator')) {
    const halt = el('button', { id: 'halt', class: 'danger halt', onclick: () => dialog.showModal() }, 'HALT FLEET');
    document.getElementById('halt-slot').append(halt);
    dialog.addEventListener('close', async () => {
      if (dialog.returnValue !== 'halt') return;
      try {
        const r = await post('/api/halt', { reason: document.getElementById('halt-reason').value });
        flash(r.recorded_for_leader ? 'Halt recorded for the leader (' + r.leader + ').' : 'Fleet halted.');
        refreshFleetState();
      } catch (e) { flash('Halt refused: ' + e.message, true); }
    });
  } else {
    dialog.remove();
  }
  async function refreshFleetState() {
    try {
      const f = await get('/api/fleet?selector=');
      const b = document.getElementById('halted');
      b.hidden = !f.halted;
      b.replaceChildren();
      if (f.halted) {
        b.append('HALTED by ' + f.halted_by + ': ' + f.halt_reason + '. No run starts until released. ');
        if (can('operator') && !leader) {
          b.append(el('button', { id: 'release', onclick: async () => {
            try { await post('/api/release'); flash('Halt released.'); refreshFleetState(); } catch (e) { flash(e.message, true); }
          } }, 'Release'));
        }
      }
    } catch (e) { /* the page's own view reports errors */ }
  }

  // ---- live updates
  const handlers = { fleet: [], run: [], samples: [] };
  function listen() {
    const es = new EventSource('/events');
    const dot = document.getElementById('live');
    es.addEventListener('hello', () => dot.classList.add('on'));
    es.onerror = () => dot.classList.remove('on');
    for (const type of Object.keys(handlers)) {
      es.addEventListener(type, (ev) => { const d = JSON.parse(ev.data); for (const h of handlers[type]) h(d); });
    }
    es.addEventListener('reset', () => location.reload());
  }
  handlers.fleet.push(debounce(refreshFleetState, 200));

  // ---- Fleet
  function fleetPage() {
    const q = new URLSearchParams(location.search);
    const sel = el('input', { id: 'selector', placeholder: 'selector: dc=pangyo,rack in (p1,p2),!canary', size: 50, value: q.get('selector') || '' });
    const view = el('div', { id: 'fleet-view' });
    let open = q.get('dc') && q.get('rack') ? { dc: q.get('dc'), rack: q.get('rack') } : null;
    const apply = () => {
      const p = new URLSearchParams({ selector: sel.value });
      if (open) { p.set('dc', open.dc); p.set('rack', open.rack); }
      history.replaceState(null, '', '/fleet?' + p);
      load();
    };
    sel.addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(); });
    main.replaceChildren(el('h1', {}, 'Fleet'),
      el('div', { class: 'filters' }, sel, el('button', { id: 'apply', onclick: apply }, 'Filter')), view);
    async function load() {
      const p = new URLSearchParams({ selector: sel.value });
      if (open) { p.set('dc', open.dc); p.set('rack', open.rack); }
      let f;
      try { f = await get('/api/fleet?' + p); } catch (e) { view.replaceChildren(el('p', { class: 'error' }, e.message)); return; }
      const parts = [el('div', { class: 'cards' },
        el('div', { class: 'card' }, el('b', { id: 'count-total' }, f.total), 'hosts'),
        el('div', { class: 'card' }, el('b', { id: 'count-live', class: 'ok' }, f.live), 'connected'),
        el('div', { class: 'card' }, el('b', { id: 'count-faulted', class: f.faulted ? 'bad' : '' }, f.faulted), 'under fault'))];
      for (const dc of f.dcs) {
        parts.push(el('h2', {}, 'dc ' + dc.dc));
        parts.push(table(['rack', 'hosts', 'connected', 'under fault', 'faults', 'soonest lease end'], dc.racks.map((r) =>
          el('tr', { class: 'click rack', 'data-rack': dc.dc + '/' + r.rack, onclick: () => { open = (open && open.rack === r.rack && open.dc === dc.dc) ? null : { dc: dc.dc, rack: r.rack }; apply(); } },
            el('td', {}, (open && open.dc === dc.dc && open.rack === r.rack ? '\u25be ' : '\u25b8 ') + r.rack), el('td', {}, r.hosts),
            el('td', { class: r.live < r.hosts ? 'bad' : 'ok' }, r.live), el('td', { class: r.faulted ? 'bad' : '' }, r.faulted),
            el('td', {}, r.faults), el('td', {}, left(r.soonest_expiry, f.now))))));
        if (open && open.dc === dc.dc && f.hosts) {
          parts.push(el('h3', {}, 'rack ' + open.rack));
          parts.push(table(['host', 'connection', 'agent', 'faults in effect', 'lease left'], f.hosts.map((h) =>
            el('tr', { class: 'host', 'data-host': h.id },
              el('td', {}, h.id), el('td', { class: h.live ? 'ok' : 'bad' }, h.live ? 'connected' : 'lost ' + (h.lost_reason || '')),
              el('td', {}, h.version), el('td', {}, h.faults.map((x) => x.kind + (x.revert_error ? ' (revert failing)' : '')).join(', ')),
              el('td', {}, h.faults.map((x) => left(x.expires, f.now)).join(', '))))));
        }
      }
      view.replaceChildren(...parts);
      drawn();
    }
    handlers.fleet.push(debounce(load, 300));
    load();
  }

  // ---- Runs
  function runsPage() {
    const phase = el('select', { id: 'phase' }, ['', 'active', 'waiting', 'done'].map((v) => el('option', { value: v }, v || 'any phase')));
    const outcome = el('select', { id: 'outcome' }, ['', 'passed', 'failed', 'aborted', 'refused', 'unspecified'].map((v) => el('option', { value: v }, v || 'any outcome')));
    const text = el('input', { id: 'q', placeholder: 'id, experiment or person' });
    const view = el('div');
    main.replaceChildren(el('h1', {}, 'Runs'), el('div', { class: 'filters' }, phase, outcome, text), view);
    async function load() {
      const p = new URLSearchParams({ phase: phase.value, outcome: outcome.value, q: text.value });
      let r;
      try { r = await get('/api/runs?' + p); } catch (e) { view.replaceChildren(el('p', { class: 'error' }, e.message)); return; }
      view.replaceChildren(table(['run', 'experiment', 'environment', 'phase', 'outcome', 'started by', 'created', ''], r.runs.map((x) =>
        el('tr', { class: 'run-row', 'data-run': x.id },
          el('td', {}, el('a', { href: '/runs/' + encodeURIComponent(x.id) }, x.id)), el('td', {}, x.name || x.kind),
          el('td', {}, x.environment), el('td', {}, x.phase), el('td', { class: x.outcome }, x.outcome === 'unspecified' ? '' : x.outcome),
          el('td', {}, x.started_by), el('td', {}, x.created ? when(x.created) : ''),
          el('td', {}, x.phase === 'done' ? el('a', { href: '/reports/' + encodeURIComponent(x.id) }, 'report') : '')))));
    }
    for (const c of [phase, outcome]) c.addEventListener('change', load);
    text.addEventListener('input', debounce(load, 300));
    handlers.run.push(debounce(load, 300));
    load();
  }

  // ---- Live run
  function chart(probe, samples, run) {
    const W = 560, H = 200, L = 48, B = 22, T = 8, R = 8;
    const pts = samples.filter((s) => s.probe === probe.name);
    const slo = (run.experiment || {}).slo || {};
    const lat = slo.latency && (!(slo.latency.probes || []).length || slo.latency.probes.includes(probe.name)) ? parseFloat(slo.latency.max) * 1000 : null;
    const now = Date.now();
    const t0 = pts.length ? pts[0].t : now - 60000;
    const t1 = Math.max(pts.length ? pts[pts.length - 1].t : now, t0 + 10000);
    let ymax = Math.max(lat || 0, ...pts.map((s) => s.ms), 1) * 1.15;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => H - B - (Math.min(v, ymax) / ymax) * (H - B - T);
    const g = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', class: 'probe-chart', 'data-probe': probe.name, 'data-points': pts.length });
    const fs = ms(run.fault_start), fe = ms(run.fault_end) || (fs ? now : 0);
    if (fs) g.append(svg('rect', { class: 'fault', x: x(Math.max(fs, t0)), y: T, width: Math.max(1, x(Math.min(fe, t1)) - x(Math.max(fs, t0))), height: H - B - T }));
    g.append(svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }), svg('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
    g.append(svg('text', { x: 2, y: T + 10 }, Math.round(ymax) + ' ms'), svg('text', { x: 2, y: H - B }, '0'));
    g.append(svg('text', { x: L, y: H - 4 }, new Date(t0).toISOString().slice(11, 19)), svg('text', { x: W - R - 50, y: H - 4 }, new Date(t1).toISOString().slice(11, 19)));
    if (lat) {
      g.append(svg('line', { class: 'thr slo-threshold', x1: L, x2: W - R, y1: y(lat), y2: y(lat) }));
      g.append(svg('text', { x: W - R - 150, y: y(lat) - 3 }, 'SLO p' + (slo.latency.percentile || 99) + ' \u2264 ' + Math.round(lat) + ' ms'));
    }
    for (const s of pts) g.append(svg('circle', { class: s.ok ? 'pt-ok' : 'pt-bad', cx: x(s.t), cy: s.ok ? y(s.ms) : T + 3, r: 2 }));
    const ok = pts.filter((s) => s.ok).length;
    return el('div', { class: 'chart' }, el('h3', {}, probe.name + ' ', el('span', { class: 'muted' }, pts.length + ' samples, ' + (pts.length ? Math.round(100 * ok / pts.length) : 0) + '% ok')), g);
  }
  function runPage() {
    let run = null;
    const samples = [];
    const head = el('div'), charts = el('div', { class: 'charts', id: 'charts' }), rest = el('div');
    main.replaceChildren(head, el('h2', {}, 'Probes'), charts, rest);
    const drawCharts = () => {
      if (!run) return;
      const probes = (run.experiment || {}).probes || [];
      charts.replaceChildren(...(probes.length ? probes.map((p) => chart(p, samples, run)) : [el('p', { class: 'muted' }, 'This run has no probes.')]));
    };
    let pending = false;
    const redraw = () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; drawCharts(); }); } };
    function render() {
      const phase = lower(run.phase, 'RUN_PHASE_') || 'unspecified';
      const outcome = lower(run.outcome, 'RUN_OUTCOME_');
      const done = phase === 'done';
      const actions = [];
      if (!done && can('operator') && !leader) {
        actions.push(el('button', { id: 'abort', class: 'danger', onclick: async () => {
          if (!confirm('Abort run ' + run.id + '? Its faults are reverted.')) return;
          try { await post('/api/runs/' + encodeURIComponent(run.id) + '/abort', { reason: 'aborted from the dashboard' }); flash('Abort asked.'); } catch (e) { flash('Abort refused: ' + e.message, true); }
        } }, 'Abort run'));
      }
      if (phase === 'pending_approval' && can('approver') && !leader) {
        for (const reject of [false, true]) {
          actions.push(el('button', { id: reject ? 'reject' : 'approve', onclick: async () => {
            try { await post('/api/runs/' + encodeURIComponent(run.id) + '/approve', { reject }); flash(reject ? 'Rejected.' : 'Approved.'); } catch (e) { flash(e.message, true); }
          } }, reject ? 'Reject' : 'Approve'));
        }
      }
      head.replaceChildren(el('div', {},
        el('h1', {}, (run.experiment && run.experiment.name) || run.kind || 'run', ' ', el('span', { class: 'muted' }, run.id)),
        el('div', { class: 'cards' },
          el('div', { class: 'card' }, el('b', { id: 'phase', class: 'phase' }, phase), 'phase'),
          el('div', { class: 'card' }, el('b', { id: 'step' }, (run.step || 0) + 1 + ' of ' + ((run.experiment || {}).steps || []).length), 'step'),
          el('div', { class: 'card' }, el('b', { id: 'verdict', class: outcome }, done ? outcome : '\u2026'), 'verdict'),
          el('div', { class: 'card' }, el('b', {}, run.started_by || ''), 'started by')),
        run.reason ? el('p', { id: 'reason' }, run.reason) : null,
        el('div', { class: 'filters' }, actions, done ? el('a', { href: '/reports/' + encodeURIComponent(run.id) }, 'signed report') : null)));
      const parts = [];
      for (const st of run.steps || []) {
        parts.push(el('h2', {}, 'Step ' + ((st.index || 0) + 1) + (st.name ? ': ' + st.name : '') + ' ', el('span', { class: 'muted' },
          'common start ' + when(st.started_at) + (st.effect_spread ? ', effect spread ' + dur(st.effect_spread) : '') + (st.ack_spread ? ', ack spread ' + dur(st.ack_spread) : ''))));
        parts.push(table(['host', 'status', 'not before', 'acked', 'effective', 'reverted', 'error'], (st.faults || []).map((f) =>
          el('tr', { class: 'fault-row' }, el('td', {}, f.agent_id), el('td', {}, lower(f.status, 'TARGET_STATUS_')), el('td', {}, when(f.not_before)),
            el('td', {}, when(f.acked_at)), el('td', {}, when(f.effective_at)), el('td', {}, when(f.reverted_at)), el('td', { class: 'bad' }, f.error || '')))));
      }
      parts.push(el('h2', {}, 'SLOs'));
      parts.push((run.slo || []).length ? table(['objective', 'probe', 'target', 'measured', ''], run.slo.map((s) =>
        el('tr', { class: 'slo-row' }, el('td', {}, s.objective + (s.term ? ' (' + s.term + ')' : '')), el('td', {}, s.probe || ''), el('td', {}, s.target),
          el('td', {}, s.measured), el('td', { class: s.pass ? 'pass' : 'fail' }, s.pass ? 'pass' : 'fail'))))
        : el('p', { class: 'muted', id: 'slo-pending' }, 'Judged when the run ends.'));
      parts.push(el('h2', {}, 'Timeline'));
      parts.push(el('ol', { class: 'timeline', id: 'timeline' }, (run.events || []).map((e) =>
        el('li', {}, el('span', { class: 'muted' }, when(e.at) + ' '), lower(e.phase, 'RUN_PHASE_') + ' \u00b7 ' + e.kind + ': ' + e.message))));
      rest.replaceChildren(...parts);
      redraw();
    }
    async function reload() {
      try { run = await get('/api/runs/' + encodeURIComponent(runId)); render(); } catch (e) { head.replaceChildren(el('p', { class: 'error' }, e.message)); }
    }
    handlers.run.push((d) => { if (d.id === runId) reloadSoon(); });
    const reloadSoon = debounce(reload, 100);
    handlers.samples.push((d) => { if (d.id === runId) { samples.push(...d.samples); redraw(); } });
    (async () => {
      try {
        const full = await get('/api/runs/' + encodeURIComponent(runId) + '?samples=1');
        for (const s of full.samples || []) samples.push({ probe: s.probe, t: ms(s.start), ms: parseFloat(s.duration || '0') * 1000, ok: !!s.ok });
        run = full; delete run.samples; render();
      } catch (e) { head.replaceChildren(el('p', { class: 'error' }, e.message)); }
    })();
  }

  // ---- Report
  async function reportPage() {
    main.replaceChildren(el('h1', {}, 'Report ', el('span', { class: 'muted' }, runId)), el('p', { class: 'muted' }, 'Checking the signed report\u2026'));
    try {
      const v = await get('/api/reports/' + encodeURIComponent(runId));
      main.replaceChildren(el('div', {}, el('h1', {}, 'Report ', el('span', { class: 'muted' }, runId)),
        el('p', { id: 'verification', class: v.verified ? 'ok' : 'bad' }, v.verified ? 'Verified: signed by the pinned key ' + v.key + ', ' + v.events + ' events, chain head ' + v.head + '.'
          : 'NOT verified: ' + v.issues.map((i) => i.message).join('; ')),
        el('p', {}, el('a', { id: 'report-link', href: '/reports/' + encodeURIComponent(runId) + '/html', target: '_blank', rel: 'noopener' }, 'Open the signed HTML report'),
          ' (' + Math.round(v.bytes / 1024) + ' KiB; check it offline with ', el('code', {}, 'firedrill report verify'), ')'),
        el('h2', {}, 'Checked'), el('ul', {}, v.checked.map((c) => el('li', {}, c))),
        v.skipped.length ? el('h2', {}, 'Not checked') : null, el('ul', {}, v.skipped.map((c) => el('li', {}, c))),
        el('p', {}, el('a', { href: '/runs/' + encodeURIComponent(runId) }, 'the run'))));
    } catch (e) { main.append(el('p', { class: 'error' }, e.message)); }
  }

  // ---- Schedules
  function schedulesPage() {
    const view = el('div');
    main.replaceChildren(el('h1', {}, 'Schedules'), view);
    async function load() {
      let r;
      try { r = await get('/api/schedules'); } catch (e) { view.replaceChildren(el('p', { class: 'error' }, e.message)); return; }
      if (!r.schedules.length) return view.replaceChildren(el('p', { class: 'muted' }, 'No schedules (firedrill schedule add).'));
      view.replaceChildren(table(['schedule', 'experiment', 'cron', 'next', 'last', 'last run', ''], r.schedules.map((s) =>
        el('tr', {}, el('td', {}, s.id), el('td', {}, s.name), el('td', {}, s.cron + ' ' + (s.time_zone || 'UTC')),
          el('td', {}, s.paused ? 'paused' : (s.next_due ? when(s.next_due) : '')), el('td', {}, s.last_due ? when(s.last_due) : ''),
          el('td', {}, s.last_run ? el('a', { href: '/runs/' + encodeURIComponent(s.last_run) }, s.last_run) : ''),
          el('td', {}, can('admin') && !leader ? el('button', { onclick: async () => {
            try { await post('/api/schedules/' + encodeURIComponent(s.id) + '/' + (s.paused ? 'resume' : 'pause')); load(); } catch (e) { flash(e.message, true); }
          } }, s.paused ? 'Resume' : 'Pause') : '')))));
    }
    handlers.run.push(debounce(load, 1000));
    load();
  }

  // ---- Findings
  function findingsPage() {
    const q = new URLSearchParams(location.search);
    const state = el('select', { id: 'finding-state' }, ['', 'open', 'overdue', 'closed'].map((v) => el('option', { value: v }, v || 'any state')));
    state.value = q.get('state') || '';
    const view = el('div');
    main.replaceChildren(el('h1', {}, 'Findings'), el('div', { class: 'filters' }, state), view);
    const runLink = (id) => (id ? el('a', { href: '/runs/' + encodeURIComponent(id) }, id) : '');
    async function load() {
      history.replaceState(null, '', '/findings' + (state.value ? '?state=' + state.value : ''));
      let r;
      try { r = await get('/api/findings?state=' + encodeURIComponent(state.value)); } catch (e) { view.replaceChildren(el('p', { class: 'error' }, e.message)); return; }
      const cards = el('div', { class: 'cards' },
        el('div', { class: 'card' }, el('b', { id: 'count-open', class: r.open ? 'bad' : 'ok' }, r.open), 'open'),
        el('div', { class: 'card' }, el('b', { id: 'count-overdue', class: r.overdue ? 'bad' : 'ok' }, r.overdue), 'overdue'),
        el('div', { class: 'card' }, el('b', { id: 'count-closed' }, r.closed), 'closed'));
      if (!r.findings.length) return view.replaceChildren(cards, el('p', { class: 'muted' }, 'No findings (firedrill finding add RUN ...).'));
      const mayClose = can('operator') && !leader;
      view.replaceChildren(cards, table(['finding', 'severity', 'state', 'title', 'owner', 'due', 'found in', 'retest', ''], r.findings.map((f) =>
        el('tr', { class: 'finding-row', 'data-finding': f.id, 'data-state': f.state },
          el('td', { title: 'revision ' + f.rev + ', by ' + f.by + ' at ' + f.at }, f.id), el('td', { class: 'sev-' + f.severity }, f.severity),
          el('td', { class: f.state === 'closed' ? 'pass' : f.state === 'overdue' ? 'fail' : '' }, f.state),
          el('td', { title: f.description }, f.title), el('td', {}, f.owner), el('td', { class: f.state === 'overdue' ? 'bad' : '' }, f.due),
          el('td', {}, runLink(f.run)), el('td', {}, runLink(f.retest_run), f.retest_verdict ? ' (' + f.retest_verdict + ')' : ''),
          el('td', {}, mayClose && f.state !== 'closed' ? el('button', { class: 'close-finding', onclick: async () => {
            const retest = prompt('Close ' + f.id + ': the retest run (a later run of the same experiment that passed)');
            if (!retest) return;
            try { await post('/api/findings/' + encodeURIComponent(f.id) + '/close', { retest, note: prompt('Note (optional)') || '' }); flash(f.id + ' closed.'); load(); } catch (e) { flash(e.message, true); }
          } }, 'Close\u2026') : '')))));
      drawn();
    }
    state.addEventListener('change', load);
    load();
  }

  const pages = { fleet: fleetPage, runs: runsPage, run: runPage, report: reportPage, schedules: schedulesPage, findings: findingsPage };
  const nav = document.getElementById('nav-' + (page === 'run' || page === 'report' ? 'runs' : page));
  if (nav) nav.classList.add('current');
  refreshFleetState();
  (pages[page] || fleetPage)();
  listen();
})();
)JS";

}  // namespace firedrill::controller::web

// The console page of deltakv-server (/ui): the region's status, its peers'
// lag over time, the cluster's nodes and a key browser, all read from the
// REST API (/v1/...) with the bearer token the user gives (kept in
// sessionStorage for this tab only). Data from the server is only ever set
// as textContent or SVG attributes, never parsed as HTML.
'use strict';

const TOKEN_KEY = 'deltakv-token';
const POLL_MS = 2000;
const CLUSTER_POLL_MS = 10000;
const HISTORY_MS = 5 * 60 * 1000; // the chart's window
const KEYS_PAGE = 100;
const VALUES_PAGE = 100;
const COLORS = ['#2f6fdb', '#d9822b', '#1f8a4c', '#8e44ad', '#c0392b', '#16a085', '#7f8c8d', '#b7950b'];

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

// ------------------------------------------------------------------ the API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The token in use: sessionStorage's (this tab, until it closes), or this
// page's own when storage is off.
let pageToken = '';
function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || pageToken;
  } catch (e) {
    return pageToken;
  }
}
function setToken(t) {
  pageToken = t;
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) { /* storage off: the token lasts until the page is left */ }
}

async function api(path) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let res;
  try {
    res = await fetch(path, { headers, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `the server did not answer (${e.message})`);
  }
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  if (!res.ok) {
    const err = body && body.error ? body.error : { code: 'http_' + res.status, message: res.statusText };
    throw new ApiError(res.status, String(err.code), String(err.message));
  }
  return body;
}

// One message at a time: the latest failure, cleared by the next success.
const errors = new Map(); // source -> message
function setError(source, err) {
  if (err === null) errors.delete(source);
  else if (err.status === 401) {
    errors.set('auth', token()
      ? 'The API token was refused (401 unauthorized): check it and enter it again.'
      : 'This server needs an API token (401 unauthorized): enter it above.');
  } else errors.set(source, `${source}: ${err.message}${err.status ? ` (HTTP ${err.status})` : ''}`);
  if (err === null && source === 'status') errors.delete('auth');
  const box = $('error');
  const text = [...errors.values()].join(' ');
  box.textContent = text;
  box.hidden = text === '';
}

// --------------------------------------------------------------- formatting

function bytes(n) {
  if (typeof n !== 'number' || !isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function num(n, digits) {
  if (typeof n !== 'number' || !isFinite(n)) return '–';
  return digits === undefined ? String(n) : n.toFixed(digits);
}

function cell(text, cls) {
  const td = el('td', { text });
  if (cls) td.className = cls;
  return td;
}

// ------------------------------------------------------------ region status

const history = new Map(); // peer region -> [{t, lag}]

function renderStatus(s) {
  $('region').textContent = s.region;
  document.title = `deltakv ${s.region}`;
  $('replica').textContent = s.replica_id;
  $('sequence').textContent = num(s.sequence);
  $('log-start').textContent = num(s.log_start);
  $('updated').textContent = new Date().toLocaleTimeString();

  const st = s.storage || {};
  const max = st.map_max_bytes || st.map_size_bytes || 0;
  const pct = max > 0 ? (100 * st.map_used_bytes) / max : 0;
  $('storage').textContent =
    `${bytes(st.map_used_bytes)} used of ${bytes(max)} (${pct.toFixed(1)}%); map now ${bytes(st.map_size_bytes)}`;
  const bar = $('storage-bar');
  bar.style.width = `${Math.min(100, pct)}%`;
  bar.classList.toggle('high', pct >= 80);

  const tbody = $('peers').querySelector('tbody');
  tbody.replaceChildren();
  const peers = Array.isArray(s.peers) ? s.peers : [];
  for (const p of peers) {
    const tr = el('tr');
    tr.append(
      cell(p.region),
      cell(p.connected ? 'connected' : 'disconnected', p.connected ? 'state-up' : 'state-down'),
      cell(num(p.lag)),
      cell(num(p.lag_seconds, 1)),
      cell(p.last_heard_seconds < 0 ? 'never' : num(p.last_heard_seconds, 1)),
      cell(p.error || ''));
    tbody.append(tr);
  }
  $('no-peers').hidden = peers.length > 0;
  $('peers').hidden = peers.length === 0;

  const now = Date.now();
  for (const p of peers) {
    if (!history.has(p.region)) history.set(p.region, []);
    history.get(p.region).push({ t: now, lag: Number(p.lag_seconds) || 0 });
  }
  for (const [region, points] of history) {
    while (points.length && points[0].t < now - HISTORY_MS) points.shift();
    if (!peers.some((p) => p.region === region) && points.length === 0) history.delete(region);
  }
  renderChart(now);
}

function renderChart(now) {
  const chart = $('lag-chart');
  const W = 600, H = 160, L = 40, R = 8, T = 8, B = 20;
  chart.replaceChildren();
  // The window: since the first sample kept (the page keeps five minutes),
  // so that the lines span the chart from the first polls on.
  let top = 1;
  let first = now;
  for (const points of history.values()) {
    for (const p of points) {
      top = Math.max(top, p.lag);
      first = Math.min(first, p.t);
    }
  }
  top = Math.ceil(top);
  const span = Math.max(10000, now - first);
  const x = (t) => L + ((t - (now - span)) / span) * (W - L - R);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  chart.append(svg('line', { class: 'axis', x1: L, y1: y(0), x2: W - R, y2: y(0) }));
  chart.append(svg('line', { class: 'axis', x1: L, y1: y(top), x2: W - R, y2: y(top) }));
  const label = (tx, ty, text, anchor) => {
    const t = svg('text', { x: tx, y: ty, 'text-anchor': anchor });
    t.textContent = text;
    chart.append(t);
  };
  label(L - 4, y(0) + 3, '0', 'end');
  label(L - 4, y(top) + 3, `${top}s`, 'end');
  label(L, H - 4, span >= 60000 ? `-${Math.round(span / 60000)} min` : `-${Math.round(span / 1000)} s`, 'start');
  label(W - R, H - 4, 'now', 'end');
  const legend = $('lag-legend');
  legend.replaceChildren();
  let i = 0;
  for (const [region, points] of history) {
    const color = COLORS[i++ % COLORS.length];
    if (points.length > 0) {
      const d = points.map((p) => `${x(p.t).toFixed(1)},${y(p.lag).toFixed(1)}`).join(' ');
      chart.append(svg('polyline', { points: d, fill: 'none', stroke: color, 'stroke-width': 2 }));
    }
    const swatch = el('span', { class: 'swatch' });
    swatch.style.background = color;
    legend.append(el('span', {}, swatch, region));
  }
}

async function pollStatus() {
  try {
    renderStatus(await api('/v1/status'));
    setError('status', null);
  } catch (e) {
    setError('status', e);
  }
}

// ------------------------------------------------------------------ cluster

function renderCluster(c) {
  const nodes = Array.isArray(c.nodes) ? c.nodes : [];
  let summary = `${nodes.length} node${nodes.length === 1 ? '' : 's'}; ` +
    `${c.replicas} replica${c.replicas === 1 ? '' : 's'} a key, write quorum ${c.write_quorum}, ` +
    `read quorum ${c.read_quorum}; ring revision ${c.ring_revision}; this node: ${c.node_id}`;
  if (c.etcd) {
    summary += `; etcd ${c.etcd.reachable ? 'reachable' : 'unreachable'}`;
    if (c.etcd.error) summary += ` (${c.etcd.error})`;
  } else {
    summary += '; single node (no etcd)';
  }
  $('cluster-summary').textContent = summary;
  const tbody = $('nodes').querySelector('tbody');
  tbody.replaceChildren();
  for (const n of nodes) {
    const tr = el('tr');
    tr.append(cell(n.id), cell(n.up ? 'up' : 'down', n.up ? 'state-up' : 'state-down'),
      cell(n.state), cell(n.http), cell(n.zone || ''), cell(num(n.vnodes)));
    tbody.append(tr);
  }
}

async function pollCluster() {
  try {
    renderCluster(await api('/v1/cluster'));
    setError('cluster', null);
  } catch (e) {
    if (e.status === 404) {
      $('cluster-summary').textContent = 'This region is not a cluster.';
      setError('cluster', null);
    } else if (e.status !== 401) {
      setError('cluster', e);
    }
  }
}

// -------------------------------------------------------------- key browser

let keysCursor = null;
let keysPrefix = '';
let selected = null;

async function searchKeys(more) {
  if (!more) {
    keysPrefix = $('prefix').value;
    keysCursor = null;
    $('keys').replaceChildren();
  }
  const q = new URLSearchParams({ prefix: keysPrefix, limit: String(KEYS_PAGE) });
  if (keysCursor) q.set('cursor', keysCursor);
  try {
    const page = await api(`/v1/keys?${q}`);
    for (const k of page.keys) {
      const b = el('button', { type: 'button', class: 'key-button' },
        el('span', { class: 'key-name', text: k.key }), el('span', { class: 'key-type', text: k.type }));
      b.dataset.key = k.key;
      b.addEventListener('click', () => showKey(k.key, b));
      $('keys').append(el('li', {}, b));
    }
    keysCursor = page.cursor;
    $('keys-more').hidden = !keysCursor;
    $('keys-empty').hidden = $('keys').children.length > 0;
    setError('keys', null);
  } catch (e) {
    setError('keys', e);
  }
}

function keyPath(key) {
  return `/v1/keys/${encodeURIComponent(key)}`;
}

async function showKey(key, button) {
  if (selected) selected.classList.remove('selected');
  selected = button || null;
  if (selected) selected.classList.add('selected');
  const view = $('key-view');
  try {
    const v = await api(`${keyPath(key)}?limit=${VALUES_PAGE}`);
    view.replaceChildren(el('h3', { id: 'key-name', text: v.key }));
    const meta = el('p', {}, el('span', { class: 'tag', id: 'key-type', text: v.type }));
    view.append(meta);
    if (v.type === 'counter') {
      view.append(el('pre', { id: 'key-value', text: String(v.value) }));
    } else if (v.type === 'register') {
      meta.append(`written ${v.updated_at} by ${v.origin}`);
      view.append(el('pre', { id: 'key-value', text: JSON.stringify(v.value, null, 2) }));
    } else if (v.type === 'set') {
      meta.append(`${v.size} member${v.size === 1 ? '' : 's'}`);
      const ul = el('ul', { class: 'members', id: 'key-value' });
      view.append(ul);
      await appendMembers(key, ul, v);
    } else if (v.type === 'list') {
      meta.append(`${v.length} value${v.length === 1 ? '' : 's'}`);
      const ol = el('ol', { id: 'key-value', start: '0' });
      view.append(ol);
      await appendValues(key, ol, v, 0);
    } else {
      view.append(el('pre', { id: 'key-value', text: JSON.stringify(v, null, 2) }));
    }
    setError('key', null);
  } catch (e) {
    view.replaceChildren(el('p', { class: 'muted', text: `${key}: ${e.message}` }));
    setError('key', e.status === 404 ? null : e);
  }
}

// A set's page, then a button for the next one (cursor).
async function appendMembers(key, ul, page) {
  for (const m of page.members) ul.append(el('li', { text: m }));
  if (page.cursor) {
    const more = el('button', { type: 'button', text: 'More members' });
    more.addEventListener('click', async () => {
      more.remove();
      try {
        const q = new URLSearchParams({ limit: String(VALUES_PAGE), cursor: page.cursor });
        await appendMembers(key, ul, await api(`${keyPath(key)}?${q}`));
      } catch (e) {
        setError('key', e);
      }
    });
    ul.after(more);
  }
}

// A list's page from `offset`, then a button for the next one.
async function appendValues(key, ol, page, offset) {
  for (const v of page.values) ol.append(el('li', { text: v }));
  const next = offset + page.values.length;
  if (next < page.length && page.values.length > 0) {
    const more = el('button', { type: 'button', text: 'More values' });
    more.addEventListener('click', async () => {
      more.remove();
      try {
        const q = new URLSearchParams({ limit: String(VALUES_PAGE), offset: String(next) });
        await appendValues(key, ol, await api(`${keyPath(key)}?${q}`), next);
      } catch (e) {
        setError('key', e);
      }
    });
    ol.after(more);
  }
}

// ---------------------------------------------------------------------- start

function refreshAll() {
  pollStatus();
  pollCluster();
  searchKeys(false);
}

document.addEventListener('DOMContentLoaded', () => {
  $('token').value = token();
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken($('token').value);
    errors.clear();
    refreshAll();
  });
  $('token-clear').addEventListener('click', () => {
    setToken('');
    $('token').value = '';
    errors.clear();
    refreshAll();
  });
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    searchKeys(false);
  });
  $('keys-more').addEventListener('click', () => searchKeys(true));
  refreshAll();
  setInterval(pollStatus, POLL_MS);
  setInterval(pollCluster, CLUSTER_POLL_MS);
});

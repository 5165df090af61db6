// The console page in headless Chromium (playwright-core, Debian's
// chromium), against two real regions started by run.sh with API tokens:
//   node check.js WEST_URL EAST_URL SOLO_URL TOKEN SCREENSHOT.png
// Writes keys of every type to east (one whose name and value are HTML, one
// outside the prefix searched), waits until west has them, and opens west's
// page; then SOLO's, a region with no peer and no tokens.
// Checks the page's headers, the token flow (none, a wrong one, the right
// one), the region, its peer and storage, the cluster's node, the key
// browser (prefix search, every type's value, a key whose name is HTML),
// that no script error or CSP violation happened; saves a screenshot.
// Exits non-zero on the first mismatch.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const [base, east, solo, token, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: check.js WEST_URL EAST_URL SOLO_URL TOKEN SCREENSHOT.png');
  process.exit(2);
}
const region = 'uiwest';
const peer = 'uieast';
const T = 15000; // per wait
const many = Array.from({ length: 150 }, (_, i) => `m${String(i).padStart(3, '0')}`);

async function rest(server, method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${server}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

// The keys, written in east: the page shows what replication brought.
async function writeKeys() {
  const k = encodeURIComponent;
  await rest(east, 'POST', `/v1/counter/${k('ui:visits')}/incr`, { by: 42 });
  await rest(east, 'PUT', `/v1/register/${k('ui:settings')}`, { value: { theme: 'dark', size: 12 } });
  await rest(east, 'POST', `/v1/set/${k('ui:colors')}/add`, { members: ['red', 'green', 'blue'] });
  await rest(east, 'POST', `/v1/list/${k('ui:tasks')}/push`, { values: ['coffee', 'bread', 'jam'] });
  await rest(east, 'PUT', `/v1/register/${k('ui:<b>bé/slash</b>')}`, { value: '<img src=x onerror=alert(1)>' });
  await rest(east, 'PUT', `/v1/register/${k('other:key')}`, { value: 1 });
  for (let i = 0; i < 120; i++) {
    await rest(east, 'POST', `/v1/counter/${k(`page:${String(i).padStart(3, '0')}`)}/incr`, { by: 1 });
  }
  // A set and a list longer than the page's page (100).
  await rest(east, 'POST', `/v1/set/${k('big:set')}/add`, { members: many });
  await rest(east, 'POST', `/v1/list/${k('big:list')}/push`, { values: many });
  const until = Date.now() + 30000;
  for (;;) {
    const a = await rest(base, 'GET', '/v1/keys?prefix=ui%3A');
    const b = await rest(base, 'GET', '/v1/keys?prefix=page%3A&limit=1000');
    const c = await rest(base, 'GET', '/v1/keys?prefix=big%3A');
    if (a.keys.length === 5 && b.keys.length === 120 && c.keys.length === 2) return;
    if (Date.now() > until) throw new Error('the keys did not reach west in 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  await writeKeys();
  const args = ['--disable-gpu', '--disable-dev-shm-usage'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const browser = await chromium.launch({
    executablePath: process.env.DELTAKV_CHROMIUM || '/usr/bin/chromium',
    headless: true, args, timeout: 60000,
  });
  try {
    await run(browser);
    await runOpen(browser);
  } finally {
    await browser.close();
  }
}

async function run(browser) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(T);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => { problems.push(`a dialog opened: ${d.message()}`); d.dismiss(); });

  // The page and its files: served without a token, with their headers.
  const res = await page.goto(`${base}/ui`);
  assert.equal(res.status(), 200);
  const h = res.headers();
  assert.match(h['content-type'], /^text\/html; charset=utf-8$/);
  assert.match(h['content-security-policy'], /^default-src 'self'/);
  assert.equal(h['x-content-type-options'], 'nosniff');
  // The files served are ui/'s, byte for byte.
  const ui = path.join(__dirname, '..', '..', 'ui');
  assert.ok((await res.body()).equals(fs.readFileSync(path.join(ui, 'index.html'))), 'index.html');
  for (const [url, file, type] of [['/ui/app.js', 'app.js', /^text\/javascript/], ['/ui/style.css', 'style.css', /^text\/css/]]) {
    const r = await page.request.get(`${base}${url}`);
    assert.equal(r.status(), 200, url);
    assert.match(r.headers()['content-type'], type, url);
    assert.ok((await r.body()).equals(fs.readFileSync(path.join(ui, file))), file);
  }

  // No token yet: the API refuses, and the page says so.
  const error = page.locator('#error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /needs an API token/);

  // A wrong token: refused, and said so.
  await page.fill('#token', 'not-the-token-0123456789');
  await page.click('#token-form button[type=submit]');
  await page.waitForFunction(() => /token was refused/.test(document.getElementById('error').textContent));
  assert.equal(await page.textContent('#region'), '…');

  // The right token: the region shows, the error goes.
  await page.fill('#token', token);
  await page.click('#token-form button[type=submit]');
  await page.waitForFunction((r) => document.getElementById('region').textContent === r, region);
  await error.waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('deltakv-token')), token);

  // Storage usage.
  await page.waitForFunction(() => / used of .*%/.test(document.getElementById('storage').textContent));
  assert.match(await page.textContent('#storage'), /^\d+(\.\d)? [KMGT]?i?B used of \d+(\.\d)? [KMGT]?i?B \(\d+\.\d%\)/);

  // The peer, connected, and its line in the chart (a few polls).
  const peerRow = page.locator('#peers tbody tr', { hasText: peer });
  await peerRow.waitFor();
  await page.waitForFunction(() => document.querySelector('#peers tbody tr td:nth-child(2)').textContent === 'connected');
  await page.waitForFunction(() => {
    const line = document.querySelector('#lag-chart polyline');
    return line && line.getAttribute('points').split(' ').length >= 2;
  }, null, { timeout: 20000 });
  assert.match(await page.textContent('#lag-legend'), new RegExp(peer));

  // The cluster: this one node, without etcd.
  await page.waitForFunction(() => /node/.test(document.getElementById('cluster-summary').textContent));
  const summary = await page.textContent('#cluster-summary');
  assert.ok(/^1 node;/.test(summary) || /not a cluster/.test(summary), summary);
  if (/^1 node;/.test(summary)) assert.equal(await page.locator('#nodes tbody tr').count(), 1);

  // The key browser: a prefix search lists the keys under it, only those.
  await page.fill('#prefix', 'ui:');
  await page.click('#search-form button[type=submit]');
  const names = ['ui:<b>bé/slash</b>', 'ui:colors', 'ui:settings', 'ui:tasks', 'ui:visits'];
  await page.waitForFunction((n) => document.querySelectorAll('#keys li').length === n, names.length);
  assert.deepEqual(await page.locator('#keys .key-name').allTextContents(), names);
  assert.equal(await page.locator('#keys b').count(), 0, 'a key name was parsed as HTML');

  // Opens a key of the list; waits until its name and type show.
  const open = async (key, type) => {
    await page.locator('#keys button', { has: page.locator('.key-name', { hasText: key }) }).first().click();
    await page.waitForFunction(([k, t]) => {
      const n = document.getElementById('key-name');
      const ty = document.getElementById('key-type');
      return n && n.textContent === k && ty && ty.textContent === t;
    }, [key, type]);
  };

  // Paging: more keys than a page (100) under a prefix; "More keys"
  // follows the cursor.
  await page.fill('#prefix', 'page:');
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#keys li').length === 100);
  await page.locator('#keys-more').waitFor({ state: 'visible' });
  await page.click('#keys-more');
  await page.waitForFunction(() => document.querySelectorAll('#keys li').length === 120);
  await page.locator('#keys-more').waitFor({ state: 'hidden' });
  const paged = await page.locator('#keys .key-name').allTextContents();
  assert.equal(new Set(paged).size, 120);
  assert.equal(paged[119], 'page:119');

  // A set's and a list's values a page at a time.
  await page.fill('#prefix', 'big:');
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#keys li').length === 2);
  for (const [key, type, button] of [['big:set', 'set', 'More members'], ['big:list', 'list', 'More values']]) {
    await open(key, type);
    assert.equal(await page.locator('#key-value li').count(), 100, key);
    await page.click(`#key-view button:text-is("${button}")`);
    await page.waitForFunction(() => document.querySelectorAll('#key-value li').length === 150);
    const got = await page.locator('#key-value li').allTextContents();
    assert.deepEqual(type === 'set' ? got.sort() : got, many, key);
    assert.equal(await page.locator('#key-view button').count(), 0, key);
  }

  // The token outlives a reload (sessionStorage).
  await page.reload();
  await page.waitForFunction((r) => document.getElementById('region').textContent === r, region);
  assert.equal(await page.inputValue('#token'), token);
  await page.fill('#prefix', 'ui:');
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction((n) => document.querySelectorAll('#keys li').length === n, names.length);

  // Every type's value.
  await open('ui:visits', 'counter');
  assert.equal(await page.textContent('#key-value'), '42');
  await open('ui:settings', 'register');
  assert.deepEqual(JSON.parse(await page.textContent('#key-value')), { theme: 'dark', size: 12 });
  await open('ui:colors', 'set');
  assert.deepEqual((await page.locator('#key-value li').allTextContents()).sort(), ['blue', 'green', 'red']);
  assert.match(await page.textContent('#key-view'), /3 members/);
  await open('ui:tasks', 'list');
  assert.deepEqual(await page.locator('#key-value li').allTextContents(), ['coffee', 'bread', 'jam']);
  await open('ui:<b>bé/slash</b>', 'register');
  assert.equal(JSON.parse(await page.textContent('#key-value')), '<img src=x onerror=alert(1)>');
  assert.equal(await page.locator('#key-view img, #key-view b').count(), 0, 'a value was parsed as HTML');

  // The screenshot shows the list value (the last opened is the HTML-named
  // key: open the list again).
  await open('ui:tasks', 'list');
  await page.waitForFunction(() => {
    const line = document.querySelector('#lag-chart polyline');
    return line && line.getAttribute('points').split(' ').length >= 3;
  }, null, { timeout: 20000 });
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.deepEqual(problems, []);
  console.log(`ui: checks passed; screenshot ${screenshot}`);
}

// A region without tokens: the page works with none entered, and says
// that there is no peer.
async function runOpen(browser) {
  const page = await browser.newPage();
  page.setDefaultTimeout(T);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  await rest(solo, 'POST', `/v1/counter/${encodeURIComponent('solo:n')}/incr`, { by: 7 });
  await page.goto(`${solo}/ui`);
  await page.waitForFunction(() => document.getElementById('region').textContent === 'uisolo');
  await page.locator('#no-peers').waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.querySelectorAll('#keys li').length === 1);
  await page.click('#keys button');
  await page.waitForFunction(() => {
    const v = document.getElementById('key-value');
    return v && v.textContent === '7';
  });
  assert.equal(await page.locator('#error').isHidden(), true, await page.textContent('#error'));
  assert.deepEqual(problems, []);
  await page.close();
}

const deadline = setTimeout(() => { console.error('ui: check.js took over 150 s'); process.exit(1); }, 150000);
main().then(() => clearTimeout(deadline), (e) => {
  console.error(e);
  process.exit(1);
});

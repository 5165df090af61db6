// The Yjs side of bench/list_trace: replays the automerge-paper trace into a
// Y.Doc's Y.Text (one transaction per edit), encodes the whole document with
// Y.encodeStateAsUpdate and applies that update to a fresh Y.Doc. Prints one
// JSON object with the same fields and the same measurements as
// build-release/bench/list_trace (see that file's header).
//
//   node --expose-gc bench/yjs/trace.js TRACE.json.gz [--runs N]
'use strict';

const fs = require('fs');
const zlib = require('zlib');
const Y = require('yjs');

function statusKb(field) {
  const m = fs.readFileSync('/proc/self/status', 'utf8')
      .match(new RegExp('^' + field + ':\\s+(\\d+)', 'm'));
  return m ? Number(m[1]) : -1;
}
function resetPeakRss() { fs.writeFileSync('/proc/self/clear_refs', '5'); }
function gc() { if (global.gc) { global.gc(); global.gc(); } }
function median(v) { v = [...v].sort((a, b) => a - b); return v[v.length >> 1]; }
function fail(what) { console.error('trace.js: ' + what); process.exit(1); }

const args = process.argv.slice(2);
let path = null;
let runs = 5;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Math.max(1, Number(args[++i]));
  else path = args[i];
}
if (!path) fail('usage: trace.js TRACE.json.gz [--runs N]');
const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(path)).toString('utf8'));
const patches = [];
for (const txn of trace.txns) for (const p of txn.patches) patches.push(p);
delete trace.txns;  // keep only the patches and endContent alive

// With `peak`, samples heapUsed every 1,000 edits and keeps the highest.
function replay(peak) {
  const doc = new Y.Doc();
  const text = doc.getText('text');
  let n = 0;
  for (const [pos, del, ins] of patches) {
    doc.transact(() => {
      if (del > 0) text.delete(pos, del);
      if (ins.length > 0) text.insert(pos, ins);
    });
    if (peak && ++n % 1000 === 0) {
      peak.bytes = Math.max(peak.bytes, process.memoryUsage().heapUsed);
    }
  }
  return doc;
}

// Memory run (untimed), as in list_trace.cc.
let peakRssKb = 0;
let retained = 0;
const peak = {bytes: 0};
{
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  peak.bytes = heap0;
  resetPeakRss();
  const rss0 = statusKb('VmRSS');
  let measured = replay(peak);
  peakRssKb = statusKb('VmHWM') - rss0;
  gc();
  retained = process.memoryUsage().heapUsed - heap0;
  peak.bytes -= heap0;
  measured = null;
}

const localMs = [];
let doc = null;
for (let r = 0; r < runs; r++) {
  doc = null;
  gc();
  const t0 = performance.now();
  doc = replay(null);
  localMs.push(performance.now() - t0);
}
if (doc.getText('text').toString() !== trace.endContent) fail('local text');

const encodeMs = [];
let update = null;
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  update = Y.encodeStateAsUpdate(doc);
  encodeMs.push(performance.now() - t0);
}

// For reference only: the v2 (columnar) encoding of the same document.
const updateV2Bytes = Y.encodeStateAsUpdateV2(doc).length;

const remoteMs = [];
let remotePeakKb = 0;
for (let r = 0; r < runs; r++) {
  gc();
  resetPeakRss();
  const rss0 = statusKb('VmRSS');
  const t0 = performance.now();
  const fresh = new Y.Doc();
  Y.applyUpdate(fresh, update);
  const t1 = performance.now();
  remoteMs.push(t1 - t0);
  if (r === 0) remotePeakKb = statusKb('VmHWM') - rss0;
  if (fresh.getText('text').toString() !== trace.endContent) fail('remote text');
}

console.log(JSON.stringify({
  impl: 'yjs ' + require('yjs/package.json').version,
  edits: patches.length,
  runs,
  local_ms: +median(localMs).toFixed(2),
  encode_ms: +median(encodeMs).toFixed(2),
  remote_ms: +median(remoteMs).toFixed(2),
  encoded_bytes: update.length,
  encoded_v2_bytes: updateV2Bytes,
  local_peak_rss_kb: peakRssKb,
  remote_peak_rss_kb: remotePeakKb,
  peak_heap_bytes: peak.bytes,
  retained_heap_bytes: retained,
}));

// Loro and Automerge on the automerge-paper trace, beside bench/list_trace
// and bench/yjs/trace.js (scripts/bench-list runs all of them in one run):
// the local replay (every patch applied as a local edit, one operation per
// patch), median of N runs, the text checked against endContent. Prints one
// JSON object. The trace has no code point above U+FFFF, so the UTF-16
// indexes of both libraries equal its code-point positions.
//
//   node bench/yjs/peers.js TRACE.json.gz [--runs N]
'use strict';

const fs = require('fs');
const zlib = require('zlib');
const {LoroDoc} = require('loro-crdt');
const Automerge = require('@automerge/automerge');

function median(v) { v = [...v].sort((a, b) => a - b); return v[v.length >> 1]; }
function fail(what) { console.error('peers.js: ' + what); process.exit(1); }

const args = process.argv.slice(2);
let path = null;
let runs = 3;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Math.max(1, Number(args[++i]));
  else path = args[i];
}
if (!path) fail('usage: peers.js TRACE.json.gz [--runs N]');
const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(path)).toString('utf8'));
const patches = [];
for (const txn of trace.txns) for (const p of txn.patches) patches.push(p);

function loro() {
  const doc = new LoroDoc();
  const text = doc.getText('text');
  for (const [pos, del, ins] of patches) {
    if (del > 0) text.delete(pos, del);
    if (ins.length > 0) text.insert(pos, ins);
  }
  doc.commit();
  return text.toString();
}

// One change per patch, as an editor commits each keystroke.
function automerge() {
  let doc = Automerge.from({text: ''});
  for (const [pos, del, ins] of patches) {
    doc = Automerge.change(doc, (d) => Automerge.splice(d, ['text'], pos, del, ins));
  }
  return doc.text;
}

function time(fn, n) {
  const ms = [];
  for (let r = 0; r < n; r++) {
    const t0 = performance.now();
    const text = fn();
    ms.push(performance.now() - t0);
    if (text !== trace.endContent) fail(fn.name + ': text differs from endContent');
  }
  return +median(ms).toFixed(2);
}

function version(pkg) {
  const file = require('path').join(__dirname, 'node_modules', pkg, 'package.json');
  return pkg + ' ' + JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

const out = {
  loro: version('loro-crdt'),
  automerge: version('@automerge/automerge'),
  loro_ms: time(loro, runs),
  // Automerge takes far longer per run: one timed run.
  automerge_ms: time(automerge, 1),
};
console.log(JSON.stringify(out));

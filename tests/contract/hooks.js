// Dredd hooks of scripts/openapi-check: every response that
// docs/openapi.yaml documents is one Dredd transaction, and these hooks give
// each one the state and the request that make a real deltakv-server answer
// it. Dredd sends the request and checks status, headers and the example's
// shape; the hooks add a check of the body against the operation's full
// schema (Dredd's OpenAPI 3 parser drops pattern, format, minimum and the
// like, and checks examples only).
//
// Two servers, started by scripts/openapi-check with the environment below:
// - main: the one Dredd is pointed at. One peer region that never answers,
//   so `wait_regions=2` times out (504); small value and body limits, so a
//   413 needs a few KiB only.
// - busy: --max-parked-requests 1, and one request kept parked on it from
//   beforeAll on, so any request that would park is refused (503). Its
//   /readyz 503 comes last: the server is sent SIGTERM and answers on a
//   connection opened before (see readyzUnavailable).
//
// Requests are shaped by the documented status (section "Requests"):
// 2xx and 504 get the state they need (the key exists with its type, a
// causal token or cursor from a previous answer); 4xx get the input each
// error names. Nothing is skipped: SKIPPED below lists what may be, with
// the reason, and scripts/openapi-check fails on any other skip.
"use strict";
const fs = require("fs");
const http = require("http");
const net = require("net");
const hooks = require("hooks");
const YAML = require("yaml");
const Ajv = require("ajv");

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`openapi-check hooks: ${name} is not set`);
  return v;
}
const TOKEN = env("CONTRACT_TOKEN");
const MAIN = { host: "127.0.0.1", port: Number(env("CONTRACT_MAIN_PORT")) };
const BUSY = { host: "127.0.0.1", port: Number(env("CONTRACT_BUSY_PORT")) };
const BUSY_PID = Number(env("CONTRACT_BUSY_PID"));
const MAX_VALUE_BYTES = Number(env("CONTRACT_MAX_VALUE_BYTES"));
const MAX_BODY_BYTES = Number(env("CONTRACT_MAX_BODY_BYTES"));
const SPEC = YAML.parse(fs.readFileSync(env("CONTRACT_SPEC"), "utf8"));
const MAX_TIMEOUT_MS = SPEC.components.parameters.TimeoutMs.schema.maximum;

// Transactions that may be skipped, by "METHOD path-template status", each
// with why it cannot be exercised. Empty: every documented answer is. The
// number skipped here is written to CONTRACT_SKIPS_FILE, and
// scripts/openapi-check fails when Dredd skipped any other.
const SKIPPED = {};

// ------------------------------------------------------------ the document
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];
const operations = {};  // "METHOD /path/{key}" -> {id, path, method, op}
for (const [path, item] of Object.entries(SPEC.paths)) {
  for (const m of METHODS) {
    if (!item[m]) continue;
    operations[`${m.toUpperCase()} ${path}`] = { id: item[m].operationId, path, method: m, op: item[m] };
  }
}
function deref(o) {
  while (o && typeof o.$ref === "string") {
    if (!o.$ref.startsWith("#/")) throw new Error(`only local $ref: ${o.$ref}`);
    o = o.$ref.slice(2).split("/").reduce((x, k) => x[k], SPEC);
  }
  return o;
}
// An OpenAPI 3.0 schema as JSON Schema: $ref inlined, nullable as a type,
// and an object with properties has no others (additionalProperties
// false unless given): an answer's field that the document does not name
// is a difference between the two.
function jsonSchema(s) {
  s = deref(s);
  if (Array.isArray(s)) return s.map(jsonSchema);
  if (!s || typeof s !== "object") return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (["example", "discriminator", "nullable", "xml", "externalDocs", "deprecated"].includes(k)) continue;
    if (k === "properties") {
      out.properties = Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, jsonSchema(ps)]));
    } else if (["items", "additionalProperties", "not"].includes(k) && typeof v === "object") {
      out[k] = jsonSchema(v);
    } else if (["oneOf", "anyOf", "allOf"].includes(k)) {
      out[k] = v.map(jsonSchema);
    } else {
      out[k] = v;
    }
  }
  if (out.properties && !("additionalProperties" in out)) out.additionalProperties = false;
  if (s.nullable === true) {
    if (out.type) out.type = [out.type, "null"];
    if (out.enum) out.enum = [...out.enum, null];
  }
  return out;
}
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addFormat("int64", { type: "number", validate: (x) => Number.isInteger(x) });
const validators = new Map();
function validatorFor(key, schema) {
  if (!validators.has(key)) validators.set(key, ajv.compile(jsonSchema(schema)));
  return validators.get(key);
}

// What a transaction stands for: its operation and documented answer.
function describe(t) {
  const key = `${t.request.method} ${t.origin.resourceName}`;
  const o = operations[key];
  if (!o) throw new Error(`transaction ${t.name}: no operation ${key} in the document`);
  const status = Number(t.expected.statusCode);
  const mediaType = t.origin.exampleName.split(" > ")[1];
  return { ...o, status, mediaType, skipKey: `${key} ${status}` };
}

// -------------------------------------------------------------------- HTTP
// One request on a fresh connection; answers {status, headers, text, json}.
function call(server, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h = { Authorization: `Bearer ${TOKEN}`, ...headers };
    if (data) { h["Content-Type"] = "application/json"; h["Content-Length"] = data.length; }
    const req = http.request({ ...server, method, path, headers: h, agent: false, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(data);
  });
}
async function must(server, method, path, body) {
  const r = await call(server, method, path, body);
  if (r.status !== 200) throw new Error(`setup ${method} ${path} answered ${r.status} ${r.text}`);
  if (server === MAIN && r.json && r.json.token) lastToken = r.json.token;
  return r.json;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------- state
// Per type, its example key and a write that gives a key of it what the
// examples need (a set with the member `red`, a list of 3 values or more).
const enc = encodeURIComponent;
const FIXTURES = {
  counter: ["visits", (s, k) => must(s, "POST", `/v1/counter/${enc(k)}/incr`, { by: 1 })],
  register: ["settings", (s, k) => must(s, "PUT", `/v1/register/${enc(k)}`, { value: { theme: "dark", size: 12 } })],
  set: ["colors", (s, k) => must(s, "POST", `/v1/set/${enc(k)}/add`, { members: ["red", "green", "blue"] })],
  list: ["tasks", (s, k) => must(s, "POST", `/v1/list/${enc(k)}/push`, { values: ["coffee", "bread", "jam", "milk", "eggs"] })],
};
// The second key of the keys_list example (prefix "s": settings, sizes).
const seedListing = () => must(MAIN, "POST", "/v1/set/sizes/add", { members: ["s", "m", "l"] });
const typeOf = (id) => (id.startsWith("key_") ? "set" : id.split("_")[0]);
const MISSING_KEY = "contract-no-such-key";
let lastToken = null;  // the latest causal token main answered
const regions = {};    // server port -> {region, replica}
let holdRequest = null;  // the request kept parked on busy

// The key segment of a transaction's path, by its place in the template.
function keyIndex(d) { return d.path.split("/").indexOf("{key}"); }
function getKey(t, d) {
  return decodeURIComponent(new URL(t.fullPath, "http://x").pathname.split("/")[keyIndex(d)]);
}
function setKey(t, d, key) {
  const u = new URL(t.fullPath, "http://x");
  const parts = u.pathname.split("/");
  parts[keyIndex(d)] = encodeURIComponent(key);
  setPath(t, parts.join("/") + u.search);
}
function setQuery(t, changes) {
  const u = new URL(t.fullPath, "http://x");
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) u.searchParams.delete(k); else u.searchParams.set(k, String(v));
  }
  setPath(t, u.pathname + u.search);
}
function setPath(t, p) { t.fullPath = p; t.request.uri = p; }
function setBody(t, body) {
  t.request.body = typeof body === "string" ? body : JSON.stringify(body);
}
function target(t, server) { t.host = server.host; t.port = String(server.port); }
const unreachedToken = (port) => `${regions[port].region}:${regions[port].replica}:999999999999`;

// The transaction's key exists with its type, on the given server (the
// key routes /v1/keys/{key} take a set).
async function ensureFixture(server, t, d) {
  await FIXTURES[typeOf(d.id)][1](server, getKey(t, d));
}

// --------------------------------------------------------------- requests
// 400: one malformed input per operation (a read's default: a malformed
// causal token).
const BAD_REQUEST = {
  counter_incr: (t) => setBody(t, { by: "1" }),
  register_put: (t) => setBody(t, { val: 1 }),
  set_contains: (t) => setQuery(t, { member: null }),
  set_add: (t) => setBody(t, { members: [] }),
  set_remove: (t) => setBody(t, { members: [] }),
  list_get: (t) => setQuery(t, { offset: 1000000 }),
  list_insert: (t) => setBody(t, { index: 1000000, values: ["x"] }),
  list_delete: (t) => setBody(t, { index: 0, count: 0 }),
  list_push: (t) => setBody(t, { values: ["x"], side: "middle" }),
  key_delete: (t) => setQuery(t, { wait_regions: 65 }),
  keys_list: (t) => setQuery(t, { cursor: "zz" }),
  batch: (t) => setBody(t, { ops: [{ op: "counter_incr", key: "visits", by: "1" }] }),
};
// Outside /v1 there is no input to get wrong but the HTTP itself: both
// Content-Length and Transfer-Encoding (RFC 9112 6.1).
const malformedHttp = (t) => { t.request.headers["Transfer-Encoding"] = "chunked"; };
const badQuery = (t) => setQuery(t, { after: "nonsense" });
// 413: a value over --max-value-bytes, or a body over --max-body-bytes.
const big = () => "x".repeat(MAX_VALUE_BYTES + 1);
const pad = () => "x".repeat(MAX_BODY_BYTES + 1);
const TOO_LARGE = {
  counter_incr: (t) => setBody(t, { by: 1, pad: pad() }),
  register_put: (t) => setBody(t, { value: big() }),
  set_add: (t) => setBody(t, { members: [big()] }),
  set_remove: (t) => setBody(t, { members: [big()] }),
  list_insert: (t) => setBody(t, { index: 0, values: [big()] }),
  list_delete: (t) => setBody(t, { index: 0, count: 1, pad: pad() }),
  list_push: (t) => setBody(t, { values: [big()] }),
  batch: (t) => setBody(t, { ops: [{ op: "register_put", key: "settings", value: big() }] }),
};
const isWrite = (d) => ["post", "put", "delete", "patch"].includes(d.method);

async function shape(t, d) {
  const v1 = d.path.startsWith("/v1");
  if (v1) t.request.headers.Authorization = `Bearer ${TOKEN}`;
  const q = new URL(t.fullPath, "http://x").searchParams;
  // The example token names a store that is not main's: a real one, from
  // main's last answer, is covered at once.
  if (q.has("after")) setQuery(t, { after: lastToken });
  switch (d.status) {
    case 200:
      if (keyIndex(d) > 0) await ensureFixture(MAIN, t, d);
      if (q.has("cursor")) await realCursor(t);
      return;
    case 400:
      return (BAD_REQUEST[d.id] || (v1 ? badQuery : malformedHttp))(t);
    case 401:
      delete t.request.headers.Authorization;
      return;
    case 404:
      return setKey(t, d, MISSING_KEY);
    case 409: {
      const other = typeOf(d.id) === "counter" ? "register" : "counter";
      const [key, create] = FIXTURES[other];
      await create(MAIN, key);
      return setKey(t, d, key);
    }
    case 413:
      if (TOO_LARGE[d.id]) return TOO_LARGE[d.id](t);
      if (!v1) return setBody(t, "x");  // outside /v1 any body at all
      throw new Error(`no 413 request for ${d.id}`);
    case 414:
      return setQuery(t, { padding: "x".repeat(9000) });  // --max-url-bytes 8 KiB
    case 415:
      t.request.headers["Content-Type"] = "text/plain";
      return;
    case 431:
      t.request.headers["X-Padding"] = "x".repeat(17 * 1024);  // --max-header-bytes 16 KiB
      return;
    case 503:
      if (d.id === "readyz") return readyzUnavailable(t);
      target(t, BUSY);
      if (keyIndex(d) > 0) await ensureFixture(BUSY, t, d);
      // Either would park; busy's one parking place is taken.
      if (isWrite(d)) setQuery(t, { wait_regions: 2, timeout_ms: 2000 });
      else setQuery(t, { after: unreachedToken(BUSY.port), timeout_ms: 2000 });
      return;
    case 504:
      if (keyIndex(d) > 0) await ensureFixture(MAIN, t, d);
      // The peer never answers; main never reaches the sequence.
      if (isWrite(d)) setQuery(t, { wait_regions: 2, timeout_ms: 100 });
      else setQuery(t, { after: unreachedToken(MAIN.port), timeout_ms: 100 });
      return;
    default:
      throw new Error(`no request shape for status ${d.status} of ${d.id}`);
  }
}

// The cursor of a real first page of the same listing, one item long.
async function realCursor(t) {
  const u = new URL(t.fullPath, "http://x");
  u.searchParams.delete("cursor");
  u.searchParams.delete("after");
  u.searchParams.set("limit", "1");
  const page = await must(MAIN, "GET", u.pathname + u.search);
  if (typeof page.cursor !== "string") throw new Error(`${u.pathname}: a one-item page has no cursor: ${JSON.stringify(page)}`);
  setQuery(t, { cursor: page.cursor });
}

// /readyz answers 503 once shutdown has started, and a server that has
// started shutting down accepts no new connection: only a connection opened
// before sees it. So: open a keep-alive connection to busy through the
// agent Dredd's requests use, SIGTERM busy (its parked request keeps it in
// its shutdown grace), wait until it refuses new connections, and let
// Dredd's request reuse the open one.
async function readyzUnavailable(t) {
  target(t, BUSY);
  await new Promise((resolve, reject) => {
    http.get({ ...BUSY, path: "/healthz", agent: http.globalAgent }, (res) => {
      res.resume();
      res.on("end", resolve);
    }).on("error", reject);
  });
  await sleep(50);  // the socket goes back to the agent's free list
  process.kill(BUSY_PID, "SIGTERM");
  const until = Date.now() + 10000;
  for (;;) {
    const refused = await new Promise((resolve) => {
      const s = net.connect(BUSY.port, BUSY.host);
      s.on("connect", () => { s.destroy(); resolve(false); });
      s.on("error", () => resolve(true));
    });
    if (refused) return;
    if (Date.now() > until) throw new Error("busy server still accepts connections 10 s after SIGTERM");
    await sleep(20);
  }
}

// ------------------------------------------------------------------- hooks
// An async hook; an error fails its transaction, or every one (beforeAll).
function wrap(fn) {
  return (arg, done) => {
    Promise.resolve().then(() => fn(arg)).then(() => done(), (e) => {
      const message = `hooks: ${e.stack || e}`;
      for (const t of Array.isArray(arg) ? arg : [arg]) {
        t.skip = false;
        t.fail = message;
      }
      done();
    });
  };
}

hooks.beforeAll(wrap(async (transactions) => {
  // Every documented answer is a transaction, and each is one we can shape.
  const seen = new Set();
  let skipped = 0;
  for (const t of transactions) {
    const d = describe(t);
    seen.add(d.skipKey);
    if (SKIPPED[d.skipKey]) {
      t.skip = true;
      skipped++;
      console.log(`openapi-check hooks: skipping ${d.skipKey}: ${SKIPPED[d.skipKey]}`);
    }
  }
  fs.writeFileSync(env("CONTRACT_SKIPS_FILE"), `${skipped}\n`);
  for (const [key, o] of Object.entries(operations)) {
    for (const status of Object.keys(o.op.responses)) {
      if (!seen.has(`${key} ${status}`)) throw new Error(`Dredd made no transaction for ${key} ${status}`);
    }
  }
  // The readiness 503 ends busy: run it last.
  const i = transactions.findIndex((t) => describe(t).skipKey === "GET /readyz 503");
  if (i >= 0) transactions.push(...transactions.splice(i, 1));

  for (const server of [MAIN, BUSY]) {
    const s = await must(server, "GET", "/v1/status");
    regions[server.port] = { region: s.region, replica: s.replica_id };
    if (s.peers.length < 1) throw new Error(`server on ${server.port} has no peer (wait_regions=2 would be a 400)`);
  }
  for (const [, [key, create]] of Object.entries(FIXTURES)) await create(MAIN, key);
  await seedListing();
  // Take busy's one parking place, and wait until it is taken.
  holdRequest = http.request({
    ...BUSY, method: "GET", agent: false,
    path: `/v1/status?after=${encodeURIComponent(unreachedToken(BUSY.port))}&timeout_ms=${MAX_TIMEOUT_MS}`,
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  holdRequest.on("error", () => {});  // ended by afterAll or busy's shutdown
  holdRequest.end();
  const until = Date.now() + 10000;
  while (!/^deltakv_http_parked_requests 1$/m.test((await call(BUSY, "GET", "/metrics")).text)) {
    if (Date.now() > until) throw new Error("the busy server's parking place was not taken within 10 s");
    await sleep(20);
  }
}));

hooks.beforeEach(wrap(async (t) => {
  if (t.skip) return;
  const d = describe(t);
  await shape(t, d);
  // Dredd names the test by its request: the one sent, not the example.
  const p = t.fullPath.length > 100 ? `${t.fullPath.slice(0, 100)}... (${t.fullPath.length} bytes)` : t.fullPath;
  t.id = `${t.request.method} (${d.status}) ${Number(t.port) === BUSY.port ? "busy " : ""}${p}`;
}));

// The body against the documented schema, the documented headers present.
hooks.beforeEachValidation((t) => {
  const d = describe(t);
  const response = deref(d.op.responses[String(d.status)]);
  const problems = [];
  const media = response.content && response.content[d.mediaType];
  // HEAD answers the headers of GET and no body.
  if (d.method === "head") {
    delete t.expected.body;
    if (t.real.body) problems.push(`HEAD answered a body of ${t.real.body.length} bytes`);
  } else if (media && media.schema) {
    const actual = t.real.headers["content-type"] || "";
    if (actual.split(";")[0].trim() !== d.mediaType.split(";")[0].trim()) {
      problems.push(`Content-Type is '${actual}', documented '${d.mediaType}'`);
    }
    let body = t.real.body;
    if (d.mediaType.startsWith("application/json")) {
      try { body = JSON.parse(t.real.body); } catch (e) { problems.push(`body is not JSON: ${e.message}`); }
    }
    const validate = validatorFor(`${d.skipKey} ${d.mediaType}`, media.schema);
    if (!validate(body)) {
      problems.push(...validate.errors.map((e) => `body${e.instancePath} ${e.message} (${e.schemaPath})`));
    }
    // An error answers the code its example shows (431 is bad_request, 414
    // too_large, ...).
    const code = media.example && media.example.error && media.example.error.code;
    if (code && !(body && body.error && body.error.code === code)) {
      problems.push(`error code is not '${code}'`);
    }
    // Dredd wants every key of the example in the answer; in a map (an
    // object of additionalProperties only, such as status.applied) the
    // example's keys are sample data, not field names.
    if (t.expected.body && d.mediaType.startsWith("application/json")) {
      t.expected.body = JSON.stringify(emptyMaps(media.schema, JSON.parse(t.expected.body)));
    }
  }
  for (const [name, h] of Object.entries(response.headers || {})) {
    const value = t.real.headers[name.toLowerCase()];
    if (value === undefined) { problems.push(`header ${name} missing`); continue; }
    const validate = validatorFor(`${d.skipKey} header ${name}`, deref(h).schema);
    if (!validate(value)) problems.push(`header ${name}: '${value}' ${ajv.errorsText(validate.errors)}`);
  }
  // Dredd compares a text/plain body with the example character for
  // character; the metrics' example is a sample, checked above by schema
  // and below by format.
  if (!d.mediaType.startsWith("application/json")) {
    delete t.expected.body;
    if (d.id === "metrics" && d.status === 200) problems.push(...prometheusProblems(t.real.body));
  }
  if (problems.length) t.fail = `not as documented: ${problems.join("; ")}`;
});

function emptyMaps(schema, value) {
  schema = deref(schema);
  if (!schema || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return schema.items ? value.map((v) => emptyMaps(schema.items, v)) : value;
  if (schema.additionalProperties && !schema.properties) return {};
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = schema.properties && schema.properties[k] ? emptyMaps(schema.properties[k], v) : v;
  }
  return out;
}

// The Prometheus text format 0.0.4, line by line; the documented families.
function prometheusProblems(text) {
  const problems = [];
  const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+]?([0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$/;
  text.split("\n").forEach((line, i) => {
    if (line === "" || /^# (HELP|TYPE) /.test(line) || sample.test(line)) return;
    problems.push(`metrics line ${i + 1} is not Prometheus text: ${JSON.stringify(line)}`);
  });
  for (const family of ["deltakv_http_requests_total", "deltakv_local_sequence", "deltakv_map_bytes", "deltakv_peer_connected"]) {
    if (!new RegExp(`^${family}[ {]`, "m").test(text)) problems.push(`metrics lack ${family}`);
  }
  return problems;
}

hooks.afterEach((t) => {
  if (!t.real || Number(t.port) !== MAIN.port || t.real.statusCode >= 300) return;
  try {
    const j = JSON.parse(t.real.body);
    if (j && typeof j.token === "string") lastToken = j.token;
  } catch (e) { /* not JSON */ }
});

hooks.afterAll((transactions, done) => {
  if (holdRequest) holdRequest.destroy();
  done();
});

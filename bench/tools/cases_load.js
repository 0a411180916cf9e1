// bench/tools/cases_load.js: HTTP/2 (h2c) load for requests that h2load cannot make, because
// each one needs its own header or body: POST /api/v1/cases with a unique Idempotency-Key and
// a report at a different place every time.
//
//   node cases_load.js --port P --token T [--n 20000] [--c 4] [--m 16] [--prefix run1]
//                      [--mode report|get] [--path /api/v1/tasks]
//
// --c connections, each keeping --m streams in flight (like h2load -c/-m). Prints one JSON line:
// {n, ok, statuses, seconds, rps, p50_ms, p90_ms, p99_ms, max_ms}. Latency is measured from the
// request being handed to the session until its response has ended.
//
// Reports are spread uniformly over a 0.2 x 0.1 degree box (about 19 x 11 km) around the demo
// city (31.30 N, 120.60 E): the four demo grids cover about 4 km2 of it, so most reports are
// outside every grid, and the duplicate search of each report finds few neighbours, as in a
// city where reports are scattered. Categories cycle over a few 小类 of the standard.
'use strict';
const http2 = require('http2');

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const port = Number(arg('port'));
const token = arg('token');
const total = Number(arg('n', '20000'));
const conns = Number(arg('c', '4'));
const streams = Number(arg('m', '16'));
const prefix = arg('prefix', 'b' + process.pid);
const mode = arg('mode', 'report');
const getPath = arg('path', '/api/v1/tasks');
if (!port || !token) {
  console.error('usage: cases_load.js --port P --token T [--n N] [--c C] [--m M] [--prefix X]');
  process.exit(2);
}

const codes = ['0101', '0102', '0103', '0104', '0105'];
let issued = 0;
let done = 0;
let ok = 0;
const statuses = {};
const lat = new Float64Array(total);
let failed = null;

function reportBody(i) {
  const lat0 = 31.25 + Math.random() * 0.1;
  const lng0 = 120.50 + Math.random() * 0.2;
  return JSON.stringify({
    code_set: 'gbt30428',
    full_code: codes[i % codes.length],
    kind: 'event',
    description: `压测上报 ${prefix}-${i}: 路边暴露垃圾`,
    location: { lat: Number(lat0.toFixed(6)), lng: Number(lng0.toFixed(6)), accuracy: 8 },
  });
}

function one(session, finish) {
  if (issued >= total || failed) return;
  const i = issued++;
  const headers = {
    ':method': mode === 'report' ? 'POST' : 'GET',
    ':path': mode === 'report' ? '/api/v1/cases' : getPath,
    authorization: 'Bearer ' + token,
  };
  let body = null;
  if (mode === 'report') {
    body = reportBody(i);
    headers['content-type'] = 'application/json';
    headers['idempotency-key'] = `${prefix}-${i}`;
  }
  const t0 = process.hrtime.bigint();
  const req = session.request(headers, { endStream: body === null });
  let status = 0;
  req.on('response', (h) => { status = h[':status']; });
  req.on('data', () => {});
  req.on('end', () => {
    lat[done] = Number(process.hrtime.bigint() - t0) / 1e6;
    statuses[status] = (statuses[status] || 0) + 1;
    if (status >= 200 && status < 300) ok++;
    done++;
    if (done === total) finish();
    else one(session, finish);
  });
  req.on('error', (e) => { failed = e; finish(); });
  if (body !== null) req.end(body);
}

function pct(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const sessions = [];
let t0;
let reported = false;
function finish() {
  if (reported) return;
  reported = true;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const sorted = Array.from(lat.subarray(0, done)).sort((a, b) => a - b);
  console.log(JSON.stringify({
    n: done, ok, statuses, seconds: Number(secs.toFixed(3)),
    rps: Math.round(done / secs),
    p50_ms: Number(pct(sorted, 50).toFixed(2)), p90_ms: Number(pct(sorted, 90).toFixed(2)),
    p99_ms: Number(pct(sorted, 99).toFixed(2)), max_ms: Number((sorted[sorted.length - 1] || 0).toFixed(2)),
    error: failed ? String(failed) : undefined,
  }));
  for (const s of sessions) s.close();
  process.exitCode = failed || ok !== total ? 1 : 0;
}

let connected = 0;
for (let k = 0; k < conns; k++) {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', (e) => { failed = failed || e; finish(); });
  s.once('connect', () => {
    if (++connected === conns) {
      t0 = process.hrtime.bigint();
      for (const x of sessions) for (let j = 0; j < streams; j++) one(x, finish);
    }
  });
  sessions.push(s);
}

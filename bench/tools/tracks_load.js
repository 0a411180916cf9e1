// bench/tools/tracks_load.js: HTTP/2 (h2c) load for GPS: track batches from many phones, or
// latest-position reads.
//
//   node tracks_load.js --port P --mode ingest --clients FILE [--batches B] [--size 100] [--form object|array]
//   node tracks_load.js --port P --mode latest --token T --path /api/v1/positions/latest?bbox=… [--n 300]
//
// ingest: used by bench/tracks.sh only with GEN=node since 2026-12-03; its default is the C
// generator with the same arguments, bodies and output, bench/tools/tracks_load.c (node's
// HTTP/2 client cost 2.4-3.1 ms of CPU per 1,000 points on the cores the servers share).
// FILE is a JSON array [{token, base}] (one checked-in person each; base = the first fix
// time in ms, after the check-in). Every client has its own HTTP/2 connection and sends its B
// batches of `size` points one after another (one in flight per phone, as a phone does), each
// point 1 ms after the last at one place, so no filter fires. Every answer must be 200 with
// all points new. --form array sends each point in the compact form, [seq, device_time, lat, lng,
// accuracy, speed, heading, altitude, battery] (docs/attendance.md), instead of an object with
// those members (the default). Prints {points, seconds, points_per_s, bytes_per_point,
// client_cpu_ms_per_1000 (this process's own CPU while sending), statuses}.
// latest: n sequential GETs on one connection; prints {n, p50_ms, p90_ms, p99_ms, max_ms,
// items}.
'use strict';
const http2 = require('http2');
const fs = require('fs');

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const port = Number(arg('port'));
const mode = arg('mode', 'ingest');

function request(session, headers, body) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const chunks = [];
    let status = 0;
    req.on('response', (h) => { status = h[':status']; });
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    req.end(body);
  });
}

async function ingest() {
  const clients = JSON.parse(fs.readFileSync(arg('clients'), 'utf8'));
  const batches = Number(arg('batches', '100'));
  const size = Number(arg('size', '100'));
  const compact = arg('form', 'object') === 'array';
  const statuses = {};
  let bad = null;
  let bytes = 0;
  // Bodies are made before the clock starts: the load generator shares the cores.
  const bodies = clients.map((c, k) => {
    const out = [];
    for (let b = 0; b < batches; b++) {
      const pts = [];
      for (let i = 0; i < size; i++) {
        const seq = b * size + i;
        const lat = 31.3 + k * 0.001;
        pts.push(compact ? [seq, c.base + seq, lat, 120.6, 5, 0, 0, 10, 80]
                         : { seq, device_time: c.base + seq, lat, lng: 120.6, accuracy: 5, speed: 0,
                             heading: 0, altitude: 10, battery: 80 });
      }
      // As bytes: not encoded again while the clock runs.
      out.push(Buffer.from(JSON.stringify({ device: 'bench', points: pts })));
      bytes += out[out.length - 1].length;
    }
    return out;
  });
  const sessions = clients.map(() => http2.connect(`http://127.0.0.1:${port}`));
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  await Promise.all(clients.map(async (c, k) => {
    for (let b = 0; b < batches; b++) {
      const r = await request(sessions[k], {
        ':method': 'POST', ':path': '/api/v1/tracks', 'content-type': 'application/json',
        authorization: 'Bearer ' + c.token }, bodies[k][b]);
      statuses[r.status] = (statuses[r.status] || 0) + 1;
      if (r.status !== 200 || JSON.parse(r.body).new !== size) bad = bad || r.body;
    }
  }));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  sessions.forEach((x) => x.close());
  const points = clients.length * batches * size;
  console.log(JSON.stringify({ points, seconds: s, points_per_s: Math.round(points / s),
                               bytes_per_point: Math.round(bytes / points),
                               client_cpu_ms_per_1000: Number(((cpu.user + cpu.system) / points).toFixed(2)),
                               statuses, error: bad }));
  if (bad) process.exit(1);
}

async function latest() {
  const n = Number(arg('n', '300'));
  // A map client takes the whole answer (~0.8 MB for 5000 people) without waiting for window
  // updates, as curl does.
  const session = http2.connect(`http://127.0.0.1:${port}`,
                                { settings: { initialWindowSize: 16 << 20, maxFrameSize: (1 << 24) - 1 } });
  session.on('connect', () => session.setLocalWindowSize(16 << 20));
  const lat = [];
  let items = -1;
  for (let i = 0; i < n + 10; i++) {
    const t0 = process.hrtime.bigint();
    const r = await request(session, { ':method': 'GET', ':path': arg('path'),
                                       authorization: 'Bearer ' + arg('token') });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 200) { console.error(r.body); process.exit(1); }
    if (i >= 10) lat.push(ms); // the first ten warm the caches
    items = JSON.parse(r.body).items.length;
  }
  session.close();
  lat.sort((a, b) => a - b);
  const q = (p) => Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2));
  console.log(JSON.stringify({ n, items, p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99),
                               max_ms: q(1) }));
}

(mode === 'ingest' ? ingest() : latest()).catch((e) => { console.error(e); process.exit(1); });

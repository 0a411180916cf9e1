#!/usr/bin/env node
// bench/tools/ws_fanout.js: one load generator for every WebSocket fan-out server measured by
// bench/ws_fanout.sh — N subscribers of one stream, 100-byte messages published at stepped
// rates; per step the share delivered and the latency percentiles (publish → receipt).
//
//   node ws_fanout.js cityd URL TOKEN BASE  N RATES SECS
//   node ws_fanout.js mqtt  URL -     -     N RATES SECS    (MQTT 3.1.1 over WebSocket, QoS 0)
//   node ws_fanout.js nchan URL -     PUBURL N RATES SECS
//
// RATES is a comma list of messages per second (deliveries/s = rate × N). Every subscriber is a
// `ws` client (npm, tests/tools); for MQTT the three packets needed (CONNECT, SUBSCRIBE,
// PUBLISH at QoS 0) are encoded here, over the same `ws` client. Prints one JSON line per step.
// RATES = 0: connect the N subscribers (source addresses 127.0.0.1 .. 127.0.0.<k>, 50,000 per
// address), print {"connected":N} and stay until standard input closes (memory per idle
// connection, bench/ws_idle.sh).
// SERVER_PID (environment): the server's process; each step then also reports the CPU time it
// used per message (user + system, from /proc), a figure a busy machine disturbs less than
// latency.
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const WebSocket = require(path.join(__dirname, '../../tests/tools/node_modules/ws'));

const [target, url, token, base, nStr, ratesStr, secsStr] = process.argv.slice(2);
const N = parseInt(nStr, 10);
const RATES = ratesStr.split(',').map(Number);
const SECS = parseFloat(secsStr);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let step = -1; // current step; messages carry it
const stats = []; // per step: {sent, got, lat: []}
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function record(text) {
  // The message text carries "B<step>:<send time in µs since start>:".
  const m = /B(\d+):(\d+):/.exec(text);
  if (!m) return;
  const s = stats[+m[1]];
  if (!s) return;
  s.got++;
  s.lat.push(Number(process.hrtime.bigint() / 1000n) - t0us - +m[2]);
}
const t0us = Number(process.hrtime.bigint() / 1000n);
const nowUs = () => Number(process.hrtime.bigint() / 1000n) - t0us;
function message() {
  const head = `B${step}:${nowUs()}:`;
  return head + 'x'.repeat(100 - head.length); // 100 bytes
}

// ---- MQTT 3.1.1 packets --------------------------------------------------------------------
function mqttLen(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 128;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
function mqttStr(s) {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
}
function mqttPacket(type, body) {
  return Buffer.concat([Buffer.from([type]), mqttLen(body.length), body]);
}
const mqttConnect = (id) => mqttPacket(0x10, Buffer.concat([mqttStr('MQTT'),
  Buffer.from([4, 2, 0, 60]), mqttStr(id)]));
const mqttSubscribe = (topic) => mqttPacket(0x82, Buffer.concat([Buffer.from([0, 1]),
  mqttStr(topic), Buffer.from([0])]));
const mqttPublish = (topic, payload) => mqttPacket(0x30, Buffer.concat([mqttStr(topic),
  Buffer.from(payload)]));

// ---- subscribers ---------------------------------------------------------------------------
function subscribe(i) {
  return new Promise((resolve, reject) => {
    let ws;
    if (target === 'cityd') {
      ws = new WebSocket(url, 'cityd.v1', { headers: { authorization: 'Bearer ' + token },
        perMessageDeflate: false, localAddress: '127.0.0.' + (1 + Math.floor(i / 50000)) });
      ws.on('message', (d) => {
        const s = d.toString();
        if (s.startsWith('{"type":"item","stream":"all"')) return record(s);
        const f = JSON.parse(s);
        if (f.type === 'auth_ok') ws.send('{"type":"sync"}');
        if (f.type === 'synced' && f.stream === 'all') resolve(ws);
        if (f.type === 'error') reject(new Error(s));
      });
    } else if (target === 'mqtt') {
      ws = new WebSocket(url, 'mqtt', { perMessageDeflate: false,
        localAddress: '127.0.0.' + (1 + Math.floor(i / 50000)) });
      ws.on('open', () => { ws.send(mqttConnect('s' + i)); ws.send(mqttSubscribe('bench/all')); });
      ws.on('message', (d) => {
        const t = d[0] >> 4;
        if (t === 9) resolve(ws); // SUBACK
        if (t === 3) record(d.toString('latin1'));
      });
    } else {
      ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('open', () => resolve(ws));
      ws.on('message', (d) => record(d.toString()));
    }
    ws.on('error', reject);
    ws.on('close', () => { closed++; });
  });
}
let closed = 0;

// ---- publishers ----------------------------------------------------------------------------
let pubWs;
function post(u, body, headers) {
  return new Promise((resolve) => {
    const req = http.request(u, { method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}
function fail(status) { // status 0: no answer
  const s = stats[step];
  s.errors++;
  s.statuses[status] = (s.statuses[status] || 0) + 1;
}
async function publish() {
  const text = message();
  stats[step].sent++;
  if (target === 'cityd') {
    const st = await post(base + '/api/v1/announcements', JSON.stringify({ stream: 'all',
      title: text }), { 'content-type': 'application/json', authorization: 'Bearer ' + token });
    if (st !== 201) fail(st);
  } else if (target === 'mqtt') {
    pubWs.send(mqttPublish('bench/all', text));
  } else {
    const st = await post(base, text, { 'content-type': 'text/plain' });
    if (st !== 201 && st !== 202) fail(st);
  }
}

const serverPid = process.env.SERVER_PID;
function serverCpuMs() {
  if (!serverPid) return null;
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux).
    const st = fs.readFileSync(`/proc/${serverPid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch (e) {
    return null;
  }
}

function pct(a, p) {
  if (!a.length) return null;
  return a[Math.min(a.length - 1, Math.floor(a.length * p))];
}

(async () => {
  const subs = [];
  const conc = 200;
  for (let i = 0; i < N; i += conc) {
    const batch = [];
    for (let k = i; k < Math.min(N, i + conc); k++) batch.push(subscribe(k));
    subs.push(...(await Promise.all(batch)));
  }
  if (target === 'mqtt') {
    pubWs = new WebSocket(url, 'mqtt', { perMessageDeflate: false });
    await new Promise((r) => pubWs.on('open', r));
    pubWs.send(mqttConnect('publisher'));
  }
  if (RATES.length === 1 && RATES[0] === 0) {
    console.log(JSON.stringify({ connected: subs.length, closed }));
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
    return;
  }
  await sleep(1000);
  for (const rate of RATES) {
    step++;
    stats[step] = { sent: 0, got: 0, lat: [], errors: 0, statuses: {} };
    const start = Date.now();
    const cpu0 = serverCpuMs();
    const total = Math.round(rate * SECS);
    const inflight = [];
    for (let k = 0; k < total; k++) {
      const due = start + (k * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      inflight.push(publish());
    }
    await Promise.all(inflight);
    await sleep(2000); // stragglers
    const cpu1 = serverCpuMs();
    const s = stats[step];
    s.lat.sort((a, b) => a - b);
    const want = s.sent * N;
    console.log(JSON.stringify({
      target, subscribers: N, rate_msgs: rate, deliveries_per_s: rate * N,
      sent: s.sent, publish_errors: s.errors, error_statuses: s.statuses, delivered: s.got, delivered_pct:
        +(100 * s.got / want).toFixed(3), p50_ms: pct(s.lat, 0.5) / 1000,
      p99_ms: pct(s.lat, 0.99) / 1000, max_ms: pct(s.lat, 1) / 1000, closed,
      server_cpu_ms_per_msg: cpu0 === null || cpu1 === null || !s.sent ? null
        : +((cpu1 - cpu0) / s.sent).toFixed(2),
    }));
    if (s.got < 0.5 * want) break; // far past saturation: stop climbing
  }
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });

#!/usr/bin/env node
// bench/tools/ws_fanout.js: one load generator for every WebSocket fan-out server measured by
// bench/ws_fanout.sh — N subscribers of one stream, 100-byte messages published at stepped
// rates; per step the share delivered and the latency percentiles (publish → receipt).
//
//   node ws_fanout.js cityd URL TOKEN BASE  N RATES SECS
//   node ws_fanout.js mqtt  URL -     -     N RATES SECS    (MQTT 3.1.1 over WebSocket, QoS 0)
//   node ws_fanout.js nchan URL -     PUBURL N RATES SECS
//
// RATES is a comma list of messages per second (deliveries/s = rate × N). Prints one JSON line
// per step.
//
// The subscribers live in WS_GEN_PROCS worker processes (default 2; subscriber i goes to worker
// i mod WS_GEN_PROCS); this process only publishes and adds up. A worker is WS_SUB_BIN when set
// (bench/tools/ws_sub.c: libwebsockets clients in C, what bench/ws_fanout.sh runs), else this
// script forked, with npm `ws` clients (tests/tools; bench/ws_idle.sh, and the generator of
// bench/ws_fanout.sh before 2026-12-02 20:00 UTC, then in one process). For MQTT the packets
// needed (CONNECT, SUBSCRIBE, PUBLISH at QoS 0) are encoded here and in ws_sub.c. A message
// carries its publish time (CLOCK_MONOTONIC, the same in every process of the machine), so a
// worker computes latency.
// RATES = 0: connect the N subscribers (source addresses 127.0.0.1 .. 127.0.0.<k>, 50,000 per
// address), print {"connected":N} and stay until standard input closes (memory per idle
// connection, bench/ws_idle.sh).
// SERVER_PID (environment): the server's process; each step then also reports the CPU time it
// used per message (user + system, from /proc), a figure a busy machine disturbs less than
// latency, and the generator's own CPU per message (all its processes).
// WS_DETAIL=1: per step also a {"detail":...} line: medians of the REST answer (cityd), of the
// first receipt of a message and of the spread from its first to its last receipt.
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const { fork } = require('child_process');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => Number(process.hrtime.bigint() / 1000n); // monotonic, machine-wide
const DETAIL = !!process.env.WS_DETAIL;

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

// ---- worker: the subscribers ----------------------------------------------------------------
function worker() {
  const { target, url, token, ids } = JSON.parse(process.argv[3]);
  const WebSocket = require(path.join(__dirname, '../../tests/tools/node_modules/ws'));
  const steps = []; // per step: {got, lat: [], msgs: Map(send time → [first, last])}
  let closed = 0;
  const subs = [];

  function record(text) {
    // The message text carries "B<step>:<publish time in µs>:".
    const m = /B(\d+):(\d+):/.exec(text);
    if (!m) return;
    const now = nowUs();
    let s = steps[+m[1]];
    if (!s) s = steps[+m[1]] = { got: 0, lat: [], msgs: new Map() };
    s.got++;
    s.lat.push(now - +m[2]);
    if (DETAIL) {
      const d = s.msgs.get(m[2]);
      if (d) d[1] = now;
      else s.msgs.set(m[2], [now, now]);
    }
  }

  function subscribe(i) {
    return new Promise((resolve, reject) => {
      const localAddress = '127.0.0.' + (1 + Math.floor(i / 50000));
      let c;
      let onOpen = () => {};
      let onMsg;
      let proto;
      const headers = {};
      if (target === 'cityd') {
        proto = 'cityd.v1';
        headers.Authorization = 'Bearer ' + token;
        onMsg = (op, d) => {
          const s = d.toString();
          if (s.startsWith('{"type":"item","stream":"all"')) return record(s);
          const f = JSON.parse(s);
          if (f.type === 'auth_ok') c.send('{"type":"sync"}');
          if (f.type === 'synced' && f.stream === 'all') resolve(c);
          if (f.type === 'error') reject(new Error(s));
        };
      } else if (target === 'mqtt') {
        proto = 'mqtt';
        onOpen = () => {
          c.send(mqttConnect('s' + i), true);
          c.send(mqttSubscribe('bench/all'), true);
        };
        onMsg = (op, d) => {
          const t = d[0] >> 4;
          if (t === 9) resolve(c); // SUBACK
          if (t === 3) record(d.toString('latin1'));
        };
      } else {
        onOpen = () => resolve(c);
        onMsg = (op, d) => record(d.toString());
      }
      const ws = new WebSocket(url, proto, { headers, perMessageDeflate: false, localAddress });
      c = { send: (data) => ws.send(data) };
      ws.on('open', onOpen);
      ws.on('message', (d, bin) => onMsg(bin ? 2 : 1, d));
      ws.on('error', reject);
      ws.on('close', () => { closed++; });
    });
  }

  process.on('message', (m) => {
    if (m.cmd === 'stats') {
      const s = steps[m.step] || { got: 0, lat: [], msgs: new Map() };
      const msgs = [];
      for (const [k, d] of s.msgs) msgs.push([+k, d[0], d[1]]);
      steps[m.step] = null;
      process.send({ stats: m.step, got: s.got, lat: Float64Array.from(s.lat), msgs, closed,
        cpu: process.cpuUsage() });
    } else if (m.cmd === 'exit') process.exit(0);
  });
  (async () => {
    const conc = 200;
    for (let k = 0; k < ids.length; k += conc) {
      subs.push(...(await Promise.all(ids.slice(k, k + conc).map(subscribe))));
    }
    process.send({ connected: subs.length, closed, cpu: process.cpuUsage() });
  })().catch((e) => { console.error(e); process.exit(1); });
}

// ---- main: the publisher --------------------------------------------------------------------
function main() {
  const [target, url, token, base, nStr, ratesStr, secsStr] = process.argv.slice(2);
  const N = parseInt(nStr, 10);
  const RATES = ratesStr.split(',').map(Number);
  const SECS = parseFloat(secsStr);
  const PROCS = Math.max(1, Math.min(N || 1, parseInt(process.env.WS_GEN_PROCS || '2', 10)));
  const cpuMs = (u) => (u.user + u.system) / 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let step = -1; // current step; messages carry it
  const stats = []; // per step: {sent, errors, statuses, rest: []}

  // Workers: WS_SUB_BIN (ws_sub.c), or this script forked (npm ws clients), each
  // behind the same two questions: ready() and stats(step), with CPU time in ms.
  let exiting = false;
  const workers = [];
  for (let w = 0; w < PROCS; w++) {
    const onExit = (code) => {
      if (code && !exiting) {
        console.error(`load generator worker ${w} exited (${code})`);
        process.exit(1);
      }
    };
    if (process.env.WS_SUB_BIN) {
      const { spawn } = require('child_process');
      const child = spawn(process.env.WS_SUB_BIN, [target, url, token, String(w), String(PROCS),
        String(N)], { stdio: ['pipe', 'pipe', 'inherit'] });
      let buf = Buffer.alloc(0), waiting = null;
      const poll = () => {
        if (!waiting) return;
        const nl = buf.indexOf(10);
        if (nl < 0) return;
        const f = buf.toString('latin1', 0, nl).split(' ');
        if (f[0] === 'connected') {
          buf = buf.subarray(nl + 1);
          const r = waiting; waiting = null;
          r({ connected: +f[1], closed: +f[2], cpuMs: +f[3] / 1000 });
          return;
        }
        const nlat = +f[5], nmsg = +f[6], need = nl + 1 + nlat * 4 + nmsg * 24;
        if (buf.length < need) return;
        const body = buf.subarray(nl + 1, need);
        buf = buf.subarray(need);
        const lat = new Uint32Array(nlat); // a copy: body need not be aligned
        for (let i = 0; i < nlat; i++) lat[i] = body.readUInt32LE(4 * i);
        const msgs = [];
        for (let i = 0, o = nlat * 4; i < nmsg; i++, o += 24) {
          msgs.push([Number(body.readBigInt64LE(o)), Number(body.readBigInt64LE(o + 8)),
            Number(body.readBigInt64LE(o + 16))]);
        }
        const r = waiting; waiting = null;
        r({ got: +f[2], closed: +f[3], cpuMs: +f[4] / 1000, lat, msgs });
      };
      child.stdout.on('data', (d) => { buf = Buffer.concat([buf, d]); poll(); });
      child.on('exit', onExit);
      const q = (line) => new Promise((r) => {
        waiting = r;
        if (line) child.stdin.write(line);
        poll();
      });
      workers.push({ ready: () => q(null), stats: (step) => q(`stats ${step}\n`),
        kill: () => child.kill() });
    } else {
      const ids = [];
      for (let i = w; i < N; i += PROCS) ids.push(i);
      const child = fork(__filename, ['--worker', JSON.stringify({ target, url, token, ids })],
        { serialization: 'advanced' });
      let waiting = null;
      child.on('message', (m) => {
        const r = waiting;
        waiting = null;
        m.cpuMs = cpuMs(m.cpu);
        if (r) r(m);
      });
      child.on('exit', onExit);
      const q = (msg) => new Promise((r) => {
        waiting = r;
        if (msg) child.send(msg);
      });
      workers.push({ ready: () => q(null), stats: (step) => q({ cmd: 'stats', step }),
        kill: () => child.kill() });
    }
  }
  const finish = (code) => {
    exiting = true;
    for (const c of workers) c.kill();
    process.exit(code);
  };

  function message() {
    const head = `B${step}:${nowUs()}:`;
    return head + 'x'.repeat(100 - head.length); // 100 bytes
  }
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
  let pubWs;
  async function publish() {
    const text = message();
    const t = nowUs();
    stats[step].sent++;
    if (target === 'cityd') {
      const st = await post(base + '/api/v1/announcements', JSON.stringify({ stream: 'all',
        title: text }), { 'content-type': 'application/json', authorization: 'Bearer ' + token });
      if (st !== 201) fail(st);
      if (DETAIL) stats[step].rest.push(nowUs() - t);
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
    const hello = await Promise.all(workers.map((c) => c.ready()));
    let connected = 0, closed = 0;
    let genCpu = cpuMs(process.cpuUsage());
    for (const h of hello) { connected += h.connected; closed += h.closed; genCpu += h.cpuMs; }
    if (target === 'mqtt') {
      const WebSocket = require(path.join(__dirname, '../../tests/tools/node_modules/ws'));
      pubWs = new WebSocket(url, 'mqtt', { perMessageDeflate: false });
      await new Promise((r) => pubWs.on('open', r));
      pubWs.send(mqttConnect('publisher'));
    }
    if (RATES.length === 1 && RATES[0] === 0) {
      console.log(JSON.stringify({ connected, closed }));
      process.stdin.resume();
      process.stdin.on('end', () => finish(0));
      return;
    }
    await sleep(1000);
    for (const rate of RATES) {
      step++;
      stats[step] = { sent: 0, errors: 0, statuses: {}, rest: [] };
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
      const parts = await Promise.all(workers.map((c) => c.stats(step)));
      let got = 0, n = 0;
      closed = 0;
      let gen = cpuMs(process.cpuUsage());
      for (const p of parts) { got += p.got; n += p.lat.length; closed += p.closed; gen += p.cpuMs; }
      const lat = new Float64Array(n);
      n = 0;
      for (const p of parts) { lat.set(p.lat, n); n += p.lat.length; }
      lat.sort();
      const want = s.sent * N;
      console.log(JSON.stringify({
        target, subscribers: N, rate_msgs: rate, deliveries_per_s: rate * N,
        sent: s.sent, publish_errors: s.errors, error_statuses: s.statuses, delivered: got,
        delivered_pct: +(100 * got / want).toFixed(3), p50_ms: pct(lat, 0.5) / 1000,
        p99_ms: pct(lat, 0.99) / 1000, max_ms: pct(lat, 1) / 1000, closed,
        server_cpu_ms_per_msg: cpu0 === null || cpu1 === null || !s.sent ? null
          : +((cpu1 - cpu0) / s.sent).toFixed(2),
        gen_cpu_ms_per_msg: s.sent ? +((gen - genCpu) / s.sent).toFixed(2) : null,
      }));
      genCpu = gen;
      if (DETAIL) {
        const per = new Map(); // publish time → [first, last] over all workers
        for (const p of parts) {
          for (const [k, a, b] of p.msgs) {
            const d = per.get(k);
            if (!d) per.set(k, [a, b]);
            else { d[0] = Math.min(d[0], a); d[1] = Math.max(d[1], b); }
          }
        }
        const med = (a) => {
          a.sort((x, y) => x - y);
          return a.length ? a[a.length >> 1] / 1000 : null;
        };
        const firsts = [], spans = [], worst = [];
        for (const [k, d] of per) {
          firsts.push(d[0] - k);
          spans.push(d[1] - d[0]);
          worst.push([d[1] - k, d[0] - k, d[1] - d[0], k]);
        }
        worst.sort((a, b) => b[0] - a[0]);
        if (process.env.WS_DETAIL_FILE) {
          fs.appendFileSync(process.env.WS_DETAIL_FILE, [...per].map(([k, d]) =>
            `${target} ${rate} ${k} ${d[0]} ${d[1]}\n`).join(''));
        }
        console.log(JSON.stringify({ detail: rate, rest_ms_med: med(s.rest),
          first_ms_med: med(firsts), span_ms_med: med(spans),
          span_ms_max: spans.length ? spans[spans.length - 1] / 1000 : null,
          worst_first_span_ms: worst.slice(0, 4).map((w) => [+(w[1] / 1000).toFixed(1),
            +(w[2] / 1000).toFixed(1), +((w[3] - worst[worst.length - 1][3]) / 1e6).toFixed(2)]) }));
      }
      if (got < 0.5 * want) break; // far past saturation: stop climbing
    }
    finish(0);
  })().catch((e) => { console.error(e); finish(1); });
}

if (process.argv[2] === '--worker') worker();
else main();

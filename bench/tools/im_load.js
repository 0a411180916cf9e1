#!/usr/bin/env node
// bench/tools/im_load.js BASE WSURL PREFIX PASSWORD PAIRS RATES SECS GROUP MSGS: instant
// messaging load (issue 11) against a running cityd whose users PREFIX1..PREFIXn share
// PASSWORD (bench/im.sh makes them).
//  1. 1:1 latency: PAIRS sender/receiver pairs, each with its direct conversation; the senders
//     send `send` frames at RATE messages/s in all (spread over the pairs) for SECS seconds per
//     rate. Per message: time from writing the frame to the `message` item on the receiver's
//     socket (stored in MariaDB, in both inboxes, before it is sent). Baseline, same sockets,
//     same rate, same run: `ping` → `pong` round trips (the gateway and the client without the
//     database).
//  2. Group fan-out: a GROUP-member group (users 1..GROUP, all online); user 1 sends MSGS
//     messages, 5 per second. Per (message, member): time from writing the frame to the item on
//     that member's socket. Baseline: the same sockets get MSGS announcements on the shared
//     stream "all" (stored once, one frame shared by every socket), timed from the REST call.
// Prints one JSON line per step.
'use strict';
const path = require('path');
const http = require('http');
const WebSocket = require(path.join(__dirname, '../../tests/tools/node_modules/ws'));

const [base, wsurl, prefix, password, pairsS, ratesS, secsS, groupS, msgsS] = process.argv.slice(2);
const PAIRS = parseInt(pairsS, 10);
const RATES = ratesS.split(',').map(Number);
const SECS = parseFloat(secsS);
const GROUP = parseInt(groupS, 10);
const MSGS = parseInt(msgsS, 10);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

function rest(method, p, token, body) {
  return new Promise((resolve, reject) => {
    const h = { 'content-type': 'application/json' };
    if (token) h.authorization = 'Bearer ' + token;
    const req = http.request(base + p, { method, agent, headers: h }, (res) => {
      let s = '';
      res.on('data', (c) => { s += c; });
      res.on('end', () => resolve({ status: res.statusCode, json: s ? JSON.parse(s) : null }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

async function login(n) {
  const r = await rest('POST', '/api/v1/auth/login', null,
    { account: prefix + n, password, device_id: 'im-bench', platform: 'web' });
  if (r.status !== 200) throw new Error('login ' + prefix + n + ': ' + r.status);
  const me = await rest('GET', '/api/v1/me', r.json.access_token);
  return { token: r.json.access_token, id: me.json.id };
}

// A socket that is synced; onFrame sees every later frame.
function connect(token, onFrame) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsurl, 'cityd.v1', { headers: { authorization: 'Bearer ' + token },
      perMessageDeflate: false });
    let live = false;
    ws.on('error', reject);
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (!live) {
        if (f.type === 'auth_ok') ws.send('{"type":"sync"}');
        if (f.type === 'synced' && f.stream === 'inbox') { live = true; resolve(ws); }
        return;
      }
      onFrame(f);
    });
  });
}

function pct(lat) {
  lat.sort((a, b) => a - b);
  const p = (q) => (lat.length ? +lat[Math.min(lat.length - 1, Math.floor(lat.length * q))].toFixed(2) : null);
  return { n: lat.length, p50_ms: p(0.5), p99_ms: p(0.99), max_ms: p(1) };
}

async function inBatches(n, k, fn) {
  const out = [];
  for (let i = 0; i < n; i += k)
    out.push(...await Promise.all([...Array(Math.min(k, n - i)).keys()].map((j) => fn(i + j))));
  return out;
}

(async () => {
  const users = await inBatches(Math.max(PAIRS * 2, GROUP), 8, (i) => login(i + 1));
  // ---- 1:1 ----
  const sentAt = new Map(); // client id -> ms
  const pingAt = new Map();
  let lat = [];
  let pingLat = [];
  let bad = 0;
  const pairs = [];
  for (let k = 0; k < PAIRS; k++) {
    const a = users[2 * k];
    const b = users[2 * k + 1];
    const conv = (await rest('POST', '/api/v1/conversations', a.token, { kind: 'direct',
      user_id: b.id })).json.id;
    const wa = await connect(a.token, (f) => {
      if (f.type === 'pong' && pingAt.has(f.id)) pingLat.push(now() - pingAt.get(f.id));
      if (f.type === 'error') bad++;
    });
    const wb = await connect(b.token, (f) => {
      if (f.type === 'item' && f.kind === 'message' && sentAt.has(f.data.client_id))
        lat.push(now() - sentAt.get(f.data.client_id));
    });
    pairs.push({ conv, wa, wb });
  }
  let serial = 0;
  for (const rate of RATES) {
    for (const mode of ['ping', 'message']) {
      lat = [];
      pingLat = [];
      bad = 0;
      const total = Math.round(rate * SECS);
      const start = now();
      for (let k = 0; k < total; k++) {
        const wait = start + (k * 1000) / rate - now();
        if (wait > 1) await sleep(wait);
        const p = pairs[k % PAIRS];
        const id = 'b' + (++serial);
        if (mode === 'ping') {
          pingAt.set(id, now());
          p.wa.send(JSON.stringify({ type: 'ping', id }));
        } else {
          sentAt.set(id, now());
          p.wa.send(JSON.stringify({ type: 'send', conversation_id: p.conv, client_id: id,
            text: '收到，马上到现场处理。' }));
        }
      }
      const achieved = total / ((now() - start) / 1000);
      await sleep(2000);
      const got = mode === 'ping' ? pingLat : lat;
      console.log(JSON.stringify(Object.assign({ test: '1:1', mode, rate, pairs: PAIRS,
        achieved_per_s: +achieved.toFixed(1), sent: total, lost: total - got.length, errors: bad },
      pct(got))));
    }
  }
  for (const p of pairs) { p.wa.close(); p.wb.close(); }
  // ---- group fan-out ----
  const members = users.slice(0, GROUP);
  const group = (await rest('POST', '/api/v1/conversations', members[0].token, { kind: 'group',
    title: '200人联络群', members: members.slice(1).map((u) => u.id) })).json;
  const gsent = new Map();
  const asent = new Map();
  let glat = [];
  let alat = [];
  const perMsgMax = new Map();
  const sockets = await inBatches(GROUP, 20, (i) => connect(members[i].token, (f) => {
    if (f.type !== 'item') return;
    if (f.kind === 'message' && gsent.has(f.data.client_id)) {
      const d = now() - gsent.get(f.data.client_id);
      glat.push(d);
      perMsgMax.set(f.data.client_id, Math.max(perMsgMax.get(f.data.client_id) || 0, d));
    }
    if (f.kind === 'announcement' && asent.has(f.data.title)) alat.push(now() - asent.get(f.data.title));
  }));
  const admin = members[0];
  await sleep(500);
  const send1 = (mode, id) => {
    if (mode === 'group') {
      gsent.set(id, now());
      sockets[0].send(JSON.stringify({ type: 'send', conversation_id: group.id, client_id: id,
        text: '今晚22点全员集合。' }));
    } else {
      asent.set(id, now());
      rest('POST', '/api/v1/announcements', adminToken(), { stream: 'all', title: id });
    }
  };
  for (const mode of ['announcement', 'group']) {
    // The first message to a new group also creates the inbox heads of members who never had
    // an item, and the first statements on each database connection are prepared then: it is
    // measured, but apart (first_message), not mixed into the steady state.
    const wid = 'w' + (++serial);
    send1(mode, wid);
    await sleep(1500);
    const first = mode === 'group' ? glat.splice(0) : alat.splice(0);
    perMsgMax.clear();
    for (let k = 0; k < MSGS; k++) {
      send1(mode, 'g' + (++serial));
      await sleep(200);
    }
    await sleep(2000);
    const got = mode === 'group' ? glat : alat;
    const worst = [...perMsgMax.values()];
    console.log(JSON.stringify(Object.assign({ test: 'group', mode, members: GROUP, messages: MSGS,
      expected: MSGS * GROUP, lost: MSGS * GROUP - got.length,
      first_message: { delivered: first.length, last_member_ms: +Math.max(0, ...first).toFixed(2) } },
    pct(got),
    mode === 'group' ? { per_message_last_member: pct(worst) } : {})));
  }
  function adminToken() { return process.env.ADMIN_TOKEN || admin.token; }
  for (const s of sockets) s.close();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });

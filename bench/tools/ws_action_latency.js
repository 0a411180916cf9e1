#!/usr/bin/env node
// bench/tools/ws_action_latency.js BASE WSURL LOGINS.json RATE SECS: latency from a committed
// case action to the handler's socket. Cases are first taken to "registered" (report, accept,
// register); then they are dispatched to 环卫 at RATE per second for SECS seconds while the
// demo handler's socket is connected. Per dispatch: the time from the REST answer (sent after
// the commit) to the case.dispatched item on the socket. Prints one JSON line.
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const WebSocket = require(path.join(__dirname, '../../tests/tools/node_modules/ws'));

const [base, wsurl, loginsFile, rateStr, secsStr] = process.argv.slice(2);
const RATE = parseFloat(rateStr);
const SECS = parseFloat(secsStr);
const logins = {};
for (const u of JSON.parse(fs.readFileSync(loginsFile, 'utf8'))) logins[u.role] = u;
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

function rest(method, p, token, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const h = { 'content-type': 'application/json' };
    if (token) h.authorization = 'Bearer ' + token;
    const req = http.request(base + p, { method, agent, headers: h }, (res) => {
      let s = '';
      res.on('data', (c) => { s += c; });
      res.on('end', () => resolve({ status: res.statusCode, json: s ? JSON.parse(s) : null }));
    });
    req.on('error', reject);
    req.end(data);
  });
}
async function token(role) {
  const r = await rest('POST', '/api/v1/auth/login', null, { account: logins[role].username,
    password: logins[role].password, device_id: 'lat-' + role, platform: 'web' });
  return r.json.access_token;
}

(async () => {
  const t = {};
  for (const r of ['inspector', 'operator', 'shift_lead', 'dispatcher', 'handler']) t[r] = await token(r);
  const sanitation = (await rest('GET', '/api/v1/departments', t.dispatcher)).json.items
    .find((d) => d.code === 'sanitation').id;
  const total = Math.round(RATE * SECS);
  const ready = [];
  const prep = async () => {
    // Reported by the inspector: a citizen's 随手拍 are limited per hour (citizen.*).
    let r = await rest('POST', '/api/v1/cases', t.inspector, { code_set: 'gbt30428',
      full_code: '0102', kind: 'event', description: '路边暴露垃圾', location: { lat: 31.305,
        lng: 120.605 } });
    const id = r.json.id;
    r = await rest('POST', `/api/v1/cases/${id}/actions`, t.operator, { version: r.json.version,
      action: 'accept' });
    r = await rest('POST', `/api/v1/cases/${id}/actions`, t.shift_lead, { version: r.json.version,
      action: 'register' });
    if (r.status !== 200) throw new Error(`preparing case ${id}: ${r.status}`);
    ready.push({ id, version: r.json.version });
  };
  for (let i = 0; i < total; i += 16) {
    await Promise.all([...Array(Math.min(16, total - i)).keys()].map(prep));
  }
  const answered = new Map(); // case id -> time of the REST answer
  const refused = {}; // status -> count of dispatches not answered 200
  const seen = new Map(); // case id -> time on the socket
  const ws = new WebSocket(wsurl, 'cityd.v1', { headers: { authorization: 'Bearer ' + t.handler } });
  await new Promise((resolve) => {
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'auth_ok') ws.send('{"type":"sync"}');
      if (f.type === 'synced' && f.stream === 'inbox') resolve();
      if (f.type === 'item' && f.kind === 'case.dispatched') seen.set(f.data.case_id, now());
    });
  });
  await sleep(500);
  const start = now();
  const inflight = [];
  for (let k = 0; k < total; k++) {
    const wait = start + (k * 1000) / RATE - now();
    if (wait > 0) await sleep(wait);
    const c = ready[k];
    inflight.push(rest('POST', `/api/v1/cases/${c.id}/actions`, t.dispatcher, { version: c.version,
      action: 'dispatch', department_id: sanitation }).then((r) => {
      if (r.status === 200) answered.set(c.id, now());
      else refused[r.status] = (refused[r.status] || 0) + 1;
    }));
  }
  await Promise.all(inflight);
  const achieved = total / ((now() - start) / 1000);
  await sleep(2000);
  const lat = [];
  let missing = 0;
  for (const [id, ta] of answered) {
    if (!seen.has(id)) { missing++; continue; }
    lat.push(Math.max(0, seen.get(id) - ta));
  }
  lat.sort((a, b) => a - b);
  const p = (q) => (lat.length ? +lat[Math.min(lat.length - 1, Math.floor(lat.length * q))].toFixed(2) : null);
  console.log(JSON.stringify({ rate: RATE, achieved_actions_per_s: +achieved.toFixed(1),
    dispatched: answered.size, refused, missing, p50_ms: p(0.5), p99_ms: p(0.99), max_ms: p(1) }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });

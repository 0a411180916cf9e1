#!/usr/bin/env node
// tests/e2e/tools/ws_scenarios.js SCENARIO CONFIG.json: WebSocket scenarios against a running
// cityd, driven by tests/e2e/ws_test.c. The client is npm's `ws` (pinned in
// tests/tools/package.json); REST calls use Node's fetch. Exit 0 = passed; anything else prints
// the reason. CONFIG: {base, ws, logins: {role: {username, password}}, sanitation, ...}.
'use strict';
const fs = require('fs');
const { cfg, WebSocket, CAT, GRID1, fail, check, sleep, rest, login, loginRoleAs, run } =
  require('./scenario_lib');

const loginRole = loginRoleAs('phone');

// One WebSocket client. Frames are kept in arrival order; wait() takes the first that matches.
class Client {
  constructor(token, opts) {
    opts = opts || {};
    const headers = {};
    if (token && opts.header !== false) headers.authorization = 'Bearer ' + token;
    this.ws = new WebSocket(opts.url || cfg.ws, opts.protocol === undefined ? 'cityd.v1'
      : opts.protocol || undefined, { headers, perMessageDeflate: false, maxPayload: 64 << 20,
      autoPong: opts.autoPong !== false });
    this.frames = [];
    this.items = {}; // stream -> [seq...] in arrival order
    this.closed = null;
    this.wakers = [];
    this.opened = new Promise((res, rej) => {
      this.ws.on('open', res);
      this.ws.on('error', (e) => { this.error = e; this._wake(); rej(e); });
    });
    this.opened.catch(() => {});
    this.ws.on('message', (data, binary) => {
      const f = JSON.parse(data.toString());
      f._t = Date.now();
      if (f.type === 'item') (this.items[f.stream] = this.items[f.stream] || []).push(f.seq);
      this.frames.push(f);
      this._wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString(), t: Date.now() };
      this._wake();
    });
  }
  _wake() {
    const w = this.wakers;
    this.wakers = [];
    w.forEach((f) => f());
  }
  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }
  async wait(pred, ms, what) {
    const end = Date.now() + (ms || 3000);
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closed) fail(`${what || 'frame'}: socket closed ${JSON.stringify(this.closed)}`);
      const left = end - Date.now();
      if (left <= 0) fail(`${what || 'frame'}: none within ${ms || 3000} ms; have ` +
        JSON.stringify(this.frames.slice(-5)));
      await new Promise((r) => { this.wakers.push(r); setTimeout(r, left); });
    }
  }
  waitType(type, ms) { return this.wait((f) => f.type === type, ms, type); }
  async waitClose(ms) {
    const end = Date.now() + (ms || 3000);
    while (!this.closed) {
      const left = end - Date.now();
      if (left <= 0) fail('socket not closed within ' + (ms || 3000) + ' ms');
      await new Promise((r) => { this.wakers.push(r); setTimeout(r, left); });
    }
    return this.closed;
  }
  async ready(positions) {
    await this.opened;
    const ok = await this.waitType('auth_ok');
    this.send(positions ? { type: 'sync', positions } : { type: 'sync' });
    await this.wait((f) => f.type === 'synced' && f.stream === 'inbox', 5000, 'synced inbox');
    return ok;
  }
  close() { try { this.ws.close(1000); } catch (e) { /* gone */ } }
}

// A case reported by the citizen and taken to "dispatched" at 环卫 (the seeded handler's
// department). Returns {id, dispatchedAt} (ms when the dispatch answer arrived).
async function dispatchedCase(tokens) {
  let r = await rest('POST', '/api/v1/cases', tokens.citizen,
    Object.assign({ description: '路边暴露垃圾一堆', location: GRID1 }, CAT));
  check(r.status === 201, 'report: ' + r.status + ' ' + r.text);
  const id = r.json.id;
  let version = r.json.version;
  const steps = [['operator', { action: 'accept' }], ['shift_lead', { action: 'register' }],
    ['dispatcher', { action: 'dispatch', department_id: cfg.sanitation }]];
  let t = 0;
  for (const [role, body] of steps) {
    const t0 = Date.now();
    r = await rest('POST', `/api/v1/cases/${id}/actions`, tokens[role],
      Object.assign({ version }, body));
    check(r.status === 200, `${body.action}: ${r.status} ${r.text}`);
    version = r.json.version;
    t = t0;
  }
  return { id, dispatchedAt: Date.now(), sentAt: t };
}

async function tokensFor(roles) {
  const t = {};
  for (const r of roles) t[r] = await loginRole(r);
  return t;
}

function contiguous(seqs, from, to, what) {
  check(seqs.length === to - from, `${what}: ${seqs.length} items for ${from + 1}..${to}: ` +
    JSON.stringify(seqs));
  seqs.forEach((s, i) => check(s === from + 1 + i, `${what}: item ${i} is ${s}, want ${from + 1 + i}`));
}

const scenarios = {
  // A dispatch through REST reaches the handler's socket within a second; the item frame is
  // documented; acks move the position and give unread counts.
  async dispatch_reaches_handler() {
    const tokens = await tokensFor(['citizen', 'operator', 'shift_lead', 'dispatcher']);
    const h = new Client(await loginRole('handler', 'h-live'));
    const ok = await h.ready({ inbox: 0 });
    check(ok.streams.includes('inbox') && ok.streams.includes('all'), 'streams ' + ok.streams);
    const c = await dispatchedCase(tokens);
    const f = await h.wait((x) => x.type === 'item' && x.kind === 'case.dispatched' &&
      x.data.case_id === c.id, 1000, 'case.dispatched item');
    check(f._t - c.sentAt < 1000, `dispatch took ${f._t - c.sentAt} ms to reach the socket`);
    check(f.stream === 'inbox' && f.seq >= 1 && typeof f.at === 'number', JSON.stringify(f));
    h.send({ type: 'ack', stream: 'inbox', position: f.seq, id: 'a1' });
    const a = await h.waitType('acked');
    check(a.id === 'a1' && a.position === f.seq && a.unread === 0, JSON.stringify(a));
    // Past the head: an error, nothing moves.
    h.send({ type: 'ack', stream: 'inbox', position: f.seq + 1000, id: 'a2' });
    const e = await h.waitType('error');
    check(e.code === 'invalid_argument' && e.id === 'a2', JSON.stringify(e));
    h.close();
    console.log(JSON.stringify({ latency_ms: f._t - c.sentAt }));
  },

  // An offline device gets everything it missed on reconnect, in order, with no gap and no
  // duplicate; two devices of one user keep their own positions.
  async offline_and_two_devices() {
    const tokens = await tokensFor(['citizen', 'operator', 'shift_lead', 'dispatcher']);
    const ta = await loginRole('handler', 'dev-a');
    const tb = await loginRole('handler', 'dev-b');
    // Device A reads the whole inbox to learn where it stands (head0); both devices ack it.
    let a = new Client(ta);
    await a.ready({ inbox: 0 });
    await sleep(300);
    let head0 = 0;
    head0 = (a.items.inbox || []).length ? a.items.inbox[a.items.inbox.length - 1] : 0;
    a.send({ type: 'ack', stream: 'inbox', position: head0 });
    await a.waitType('acked');
    let b = new Client(tb);
    await b.ready({ inbox: head0 });
    b.send({ type: 'ack', stream: 'inbox', position: head0 });
    await b.waitType('acked');
    b.close();
    await b.waitClose();
    // Three cases while B is offline; A is online and acknowledges only up to the first.
    const cases = [];
    for (let i = 0; i < 3; i++) cases.push(await dispatchedCase(tokens));
    await a.wait((f) => f.type === 'item' && f.data.case_id === cases[2].id &&
      f.kind === 'case.dispatched', 2000, 'third dispatch on A');
    const got = a.items.inbox.filter((s) => s > head0);
    contiguous(got, head0, got[got.length - 1], 'device A live');
    const head = got[got.length - 1];
    a.send({ type: 'ack', stream: 'inbox', position: head0 + 1 });
    const ackA = await a.waitType('acked');
    check(ackA.unread === head - head0 - 1, 'unread after ack: ' + JSON.stringify(ackA));
    a.close();
    await a.waitClose();
    // B reconnects with no position: from its own stored one (head0).
    b = new Client(tb);
    await b.ready();
    contiguous(b.items.inbox || [], head0, head, 'device B after reconnect');
    // A reconnects: from its stored position head0 + 1.
    a = new Client(ta);
    await a.ready();
    contiguous(a.items.inbox || [], head0 + 1, head, 'device A after reconnect');
    // Then live on both, once each.
    const c4 = await dispatchedCase(tokens);
    for (const [name, d] of [['A', a], ['B', b]]) {
      await d.wait((f) => f.type === 'item' && f.data.case_id === c4.id &&
        f.kind === 'case.dispatched', 2000, 'live on ' + name);
      await sleep(200);
      const seqs = d.items.inbox;
      check(new Set(seqs).size === seqs.length, name + ': duplicate ' + JSON.stringify(seqs));
      seqs.forEach((s, i) => i && check(s === seqs[i - 1] + 1, name + ': gap ' + JSON.stringify(seqs)));
    }
    a.close();
    b.close();
  },

  // Authentication by frame, a missing auth within 5 s, bad tokens, tokens in a query string.
  async auth_paths() {
    const tok = await loginRole('inspector', 'insp-1');
    const c = new Client(null);
    await c.opened;
    c.send({ type: 'sync' });
    const e = await c.waitType('error');
    check(e.code === 'unauthenticated', JSON.stringify(e));
    c.send({ type: 'auth', token: tok, id: 'x' });
    const ok = await c.waitType('auth_ok');
    check(ok.id === 'x' && ok.user_id > 0 && ok.expires_at > Date.now() / 1000, JSON.stringify(ok));
    c.send({ type: 'ping', id: 'p' });
    check((await c.waitType('pong')).id === 'p', 'pong id');
    c.close();
    const bad = new Client('not.a.token');
    check((await bad.waitClose()).code === 4001, 'bad header token: ' + JSON.stringify(bad.closed));
    const bad2 = new Client(null);
    await bad2.opened;
    bad2.send({ type: 'auth', token: tok.slice(0, -3) + 'AAA' });
    check((await bad2.waitClose()).code === 4001, 'bad frame token');
    const t0 = Date.now();
    const silent = new Client(null, { url: cfg.ws + '?access_token=' + tok });
    await silent.opened;
    const cl = await silent.waitClose(8000);
    check(cl.code === 4001 && cl.t - t0 >= 4500, 'no auth in 5 s: ' + JSON.stringify(cl));
    // Wrong path and missing subprotocol are refused at the upgrade.
    const wrong = new Client(tok, { url: cfg.ws.replace('/ws', '/other') });
    await wrong.opened.then(() => fail('upgrade on /other'), () => {});
    const noproto = new Client(tok, { protocol: null });
    await noproto.opened.then(() => fail('upgrade without subprotocol'), () => {});
  },

  // Heartbeat (the test runs with ws.ping_interval_s = 1, ws.idle_timeout_s = 10): a client that
  // answers pings stays connected while silent; one that does not is closed with 1001.
  async heartbeat() {
    const t = await loginRole('inspector', 'hb');
    const alive = new Client(t);
    const dead = new Client(t, { autoPong: false });
    await alive.ready();
    await dead.ready();
    let pings = 0;
    alive.ws.on('ping', () => pings++);
    const cl = await dead.waitClose(15000);
    check(cl.code === 1001, 'silent peer: ' + JSON.stringify(cl));
    await sleep(1000);
    check(!alive.closed && pings >= 2, `live peer closed or not pinged (${pings} pings): ` +
      JSON.stringify(alive.closed));
    alive.send({ type: 'ping', id: 'still' });
    await alive.wait((f) => f.type === 'pong' && f.id === 'still', 2000, 'pong after idle');
    alive.close();
  },

  // Size and encoding limits, binary frames.
  async limits() {
    const tok = await loginRole('inspector', 'insp-2');
    const big = new Client(tok);
    await big.ready();
    big.send('{"type":"ping","pad":"' + 'x'.repeat(2 << 20) + '"}');
    check((await big.waitClose()).code === 1009, '2 MiB: ' + JSON.stringify(big.closed));
    const utf = new Client(tok);
    await utf.ready();
    utf.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    check((await utf.waitClose()).code === 1007, 'bad UTF-8: ' + JSON.stringify(utf.closed));
    const bin = new Client(tok);
    await bin.ready();
    bin.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
    check((await bin.waitClose()).code === 4004, 'binary: ' + JSON.stringify(bin.closed));
    const junk = new Client(tok);
    await junk.ready();
    junk.send('not json');
    check((await junk.waitType('error')).code === 'invalid_argument', 'junk');
    junk.close();
  },

  // A client flooding pings is slowed to ws.max_msgs_per_s; another client is unaffected.
  async flood() {
    const tf = await loginRole('inspector', 'flood');
    const tg = await loginRole('operator', 'calm');
    const f = new Client(tf);
    const g = new Client(tg);
    await f.ready();
    await g.ready();
    const rate = cfg.max_msgs_per_s;
    for (let i = 0; i < 20000; i++) f.send({ type: 'ping' });
    const t0 = Date.now();
    const rtts = [];
    for (let i = 0; i < 20; i++) {
      const s = Date.now();
      g.send({ type: 'ping', id: 'g' + i });
      await g.wait((x) => x.type === 'pong' && x.id === 'g' + i, 2000, 'calm pong');
      rtts.push(Date.now() - s);
      await sleep(50);
    }
    const secs = (Date.now() - t0) / 1000;
    const pongs = f.frames.filter((x) => x.type === 'pong').length;
    rtts.sort((x, y) => x - y);
    console.log(JSON.stringify({ secs, flooder_pongs: pongs, calm_p95_ms: rtts[18] }));
    check(pongs <= rate * (secs + 1) + rate, `flooder got ${pongs} answers in ${secs} s`);
    check(pongs >= rate * (secs - 1) / 2, `flooder starved: ${pongs} in ${secs} s`);
    check(rtts[18] < 200, 'calm client slowed: ' + JSON.stringify(rtts));
    f.close();
    g.close();
  },

  // A reader that never reads is cut once its queue passes ws.max_queued_bytes.
  async slow_reader() {
    const ts = await loginRole('inspector', 'slow');
    const admin = await loginRole('admin');
    const s = new Client(ts);
    await s.ready();
    await s.wait((f) => f.type === 'synced' && f.stream === 'all', 3000, 'synced all');
    s.ws._socket.pause(); // stop reading: the kernel buffers fill, then the server's queue
    const body = 'x'.repeat(3900);
    const n = 5000; // 20 MB: more than loopback's socket buffers (up to ~10 MB) and the queue
    for (let i = 0; i < n; i += 10) { // ten at a time: done well within ws.idle_timeout_s
      const rs = await Promise.all([...Array(10).keys()].map((k) => rest('POST',
        '/api/v1/announcements', admin, { stream: 'all', title: 'n' + (i + k), body })));
      for (const r of rs) check(r.status === 201, 'announce ' + r.status + ' ' + r.text);
      // It still writes (so it is not idle), it only does not read.
      if (!s.closed && s.ws.readyState === WebSocket.OPEN) s.send({ type: 'ping' });
    }
    // Still not reading for longer than ws.idle_timeout_s (10 s in the test): whether its queue
    // overflowed or a backlog waits page by page, the server must have cut it by then.
    await sleep(13000);
    s.ws._socket.resume(); // what was buffered arrives, then the end
    const cl = await s.waitClose(30000); // it reads what the kernel holds first
    const got = (s.items.all || []).length;
    console.log(JSON.stringify({ delivered: got, published: n, closed: cl }));
    check(got < n, 'the reader was never cut');
    // Another member that reads gets the latest items and keeps its socket.
    const t2 = await loginRole('operator', 'reader');
    const o = new Client(t2);
    await o.ready();
    await o.wait((f) => f.type === 'synced' && f.stream === 'all', 5000, 'synced all');
    check((o.items.all || []).length <= 20, 'a new device got the whole history');
    o.close();
  },

  // A member that stops reading for a while and then reads again gets every item of the stream
  // once and in order — written at once while its socket takes them, then kept by the server
  // (lws' remainder of a frame, the queue) and written as the socket drains, while new ones
  // keep coming — and a member beside it that reads gets each one meanwhile.
  async paused_reader_in_order() {
    const admin = await loginRole('admin');
    const a = new Client(await loginRole('inspector', 'pause-a'));
    const b = new Client(await loginRole('operator', 'pause-b'));
    for (const c of [a, b]) {
      await c.ready();
      await c.wait((f) => f.type === 'synced' && f.stream === 'all', 3000, 'synced all');
    }
    // Frames that waited in a send queue (cityd_ws_deliveries_queued_total): the paused
    // member's, and one pong for each ping it sends to stay alive.
    const queued = async () => {
      const t = await (await fetch(cfg.metrics)).text();
      const m = /^cityd_ws_deliveries_queued_total(?:\{\})? ([0-9.e+]+)$/m.exec(t);
      check(m, 'no cityd_ws_deliveries_queued_total on /metrics');
      return Number(m[1]);
    };
    const q0 = await queued();
    let pings = 0;
    const body = 'y'.repeat(3900);
    let first = Infinity;
    let last = 0;
    const batch = async (i) => {
      const rs = await Promise.all([...Array(10).keys()].map((k) => rest('POST',
        '/api/v1/announcements', admin, { stream: 'all', title: 'p' + (i + k), body })));
      for (const r of rs) {
        check(r.status === 201, 'announce ' + r.status + ' ' + r.text);
        first = Math.min(first, r.json.offset);
        last = Math.max(last, r.json.offset);
      }
    };
    a.ws._socket.pause();
    // Until the kernel's buffers for it are full and frames wait (then three batches more:
    // far less than ws.max_queued_bytes, 256 KiB in this test) ...
    let i = 0;
    let more = -1;
    for (; more !== 0; i += 10) {
      check(i < 5000, 'after 20 MB no frame waited for the paused member');
      await batch(i);
      a.send({ type: 'ping' }); // it still writes, so it is not idle
      pings++;
      if (more > 0) more--;
      else if (more < 0 && (await queued()) - q0 - pings >= 10) more = 3;
    }
    check(!a.closed, 'the paused member was cut: ' + JSON.stringify(a.closed));
    console.log(JSON.stringify({ published_while_paused: i, waited: (await queued()) - q0 - pings }));
    // ... then it reads again while as many more come.
    a.ws._socket.resume();
    for (let k = 0; k < 4; k++, i += 10) await batch(i);
    for (const [c, who] of [[b, 'reading member'], [a, 'paused member']]) {
      await c.wait((f) => f.type === 'item' && f.stream === 'all' && f.seq === last, 15000,
        who + ': last item');
      contiguous(c.items.all.filter((q) => q >= first), first - 1, last, who);
    }
    a.close();
    b.close();
  },

  // A stream item to many sockets at once: the gateway writes it to every socket with nothing
  // waiting in one batch of send()s, shared between the loop thread and its helper threads
  // from 512 sockets on (server/ws/ws.c, batch_flush). Every socket gets every item, whole
  // and in order, and none twice.
  async fanout_many() {
    const admin = await loginRole('admin');
    const token = await loginRole('inspector', 'fan-many');
    const n = 700;
    const cs = [];
    for (let i = 0; i < n; i += 100) {
      const part = [...Array(Math.min(100, n - i)).keys()].map(() => new Client(token));
      await Promise.all(part.map(async (c) => {
        await c.ready();
        await c.wait((f) => f.type === 'synced' && f.stream === 'all', 10000, 'synced all');
      }));
      cs.push(...part);
    }
    let first = Infinity;
    let last = 0;
    for (let k = 0; k < 6; k++) {
      // One large item among small ones: a frame with a 16-bit length in its header.
      const r = await rest('POST', '/api/v1/announcements', admin, { stream: 'all',
        title: 'fan' + k, body: k === 3 ? 'z'.repeat(3000) : 'b' + k });
      check(r.status === 201, 'announce ' + r.status + ' ' + r.text);
      first = Math.min(first, r.json.offset);
      last = Math.max(last, r.json.offset);
    }
    for (const [i, c] of cs.entries()) {
      const f = await c.wait((x) => x.type === 'item' && x.stream === 'all' && x.seq === last,
        15000, `socket ${i}: last item`);
      check(f.data && f.data.title === 'fan5', `socket ${i}: last item ${JSON.stringify(f)}`);
      contiguous(c.items.all.filter((q) => q >= first), first - 1, last, `socket ${i}`);
      check(!c.closed, `socket ${i} closed: ${JSON.stringify(c.closed)}`);
    }
    await sleep(300); // nothing more (no item twice)
    for (const [i, c] of cs.entries()) {
      contiguous(c.items.all.filter((q) => q >= first), first - 1, last, `socket ${i} later`);
      c.close();
    }
  },

  // Log-out everywhere, password change and disabling each close the user's sockets within a
  // second with 4003; an expired token gets 4002 (clock moved by the test).
  async revocation() {
    const admin = await loginRole('admin');
    const mk = async (name) => {
      const r = await rest('POST', '/api/v1/admin/users', admin, {
        username: name, password: 'Secret-pass-123', display_name: name, roles: ['inspector'],
      });
      check(r.status === 201, 'create user ' + r.status + ' ' + r.text);
      return r.json.id;
    };
    const stamp = Date.now() % 100000;
    const u1 = 'wsa' + stamp;
    const u2 = 'wsb' + stamp;
    const u3 = 'wsc' + stamp;
    const id3 = await mk(u3);
    await mk(u1);
    await mk(u2);
    const t1 = await login(u1, 'Secret-pass-123', 'p1');
    const t1b = await login(u1, 'Secret-pass-123', 'p1b');
    const t2 = await login(u2, 'Secret-pass-123', 'p2');
    const t3 = await login(u3, 'Secret-pass-123', 'p3');
    const c1 = new Client(t1);
    const c1b = new Client(t1b);
    const c2 = new Client(t2);
    const c3 = new Client(t3);
    for (const c of [c1, c1b, c2, c3]) await c.ready();
    // Measured from the answer (the commit), not from the request: a password change spends
    // its first few hundred milliseconds hashing.
    let r = await rest('POST', '/api/v1/auth/logout-all', t1);
    let t0 = Date.now();
    check(r.status === 204 || r.status === 200, 'logout-all ' + r.status + ' ' + r.text);
    for (const c of [c1, c1b]) {
      const cl = await c.waitClose(1500);
      check(cl.code === 4003 && cl.t - t0 < 1000, 'logout-all: ' + JSON.stringify(cl));
    }
    r = await rest('PUT', '/api/v1/me/password', t2,
      { old_password: 'Secret-pass-123', new_password: 'Another-pass-456' });
    t0 = Date.now();
    check(r.status === 204 || r.status === 200, 'password ' + r.status + ' ' + r.text);
    let cl = await c2.waitClose(1500);
    check(cl.code === 4003 && cl.t - t0 < 1000, 'password change: ' + JSON.stringify(cl));
    r = await rest('POST', `/api/v1/admin/users/${id3}/disable`, admin, { reason: '离职' });
    t0 = Date.now();
    check(r.status === 200 || r.status === 204, 'disable ' + r.status + ' ' + r.text);
    cl = await c3.waitClose(1500);
    check(cl.code === 4003 && cl.t - t0 < 1000, 'disable: ' + JSON.stringify(cl));
    // A revoked token cannot come back in an auth frame either.
    const again = new Client(t1);
    check((await again.waitClose()).code === 4001, 'revoked token accepted again');
  },

  // Re-authentication over the socket before expiry keeps it open (token_expiring notice).
  async reauth() {
    const t = await loginRole('leader', 'lead-1');
    const c = new Client(t);
    const ok = await c.ready();
    check(ok.streams.includes('tiles'), 'leader follows tiles: ' + ok.streams);
    const t2 = await loginRole('leader', 'lead-1');
    c.send({ type: 'auth', token: t2, id: 're' });
    const ok2 = await c.waitType('auth_ok');
    check(ok2.id === 're' && ok2.user_id === ok.user_id, JSON.stringify(ok2));
    // Another user's token on this socket closes it.
    c.send({ type: 'auth', token: await loginRole('inspector', 'other') });
    check((await c.waitClose()).code === 4001, 'user switch: ' + JSON.stringify(c.closed));
  },

  // Expiry: the test moved cityd's clock past the token's life before this runs.
  async expired_open() {
    const t = await loginRole('handler', 'exp-1');
    const c = new Client(t);
    await c.ready();
    fs.writeFileSync(process.argv[4], 'ready');
    const cl = await c.waitClose(20000);
    check(cl.code === 4002, 'expiry: ' + JSON.stringify(cl));
  },

  // Shared stream: one announcement reaches every member's socket once; an offline member gets
  // it on sync; typing, presence and send work between two staff members.
  async streams_and_chat() {
    const admin = await loginRole('admin');
    const ti = await loginRole('inspector', 'chat-i');
    const to = await loginRole('operator', 'chat-o');
    const i = new Client(ti);
    const o = new Client(to);
    const oki = await i.ready();
    const oko = await o.ready();
    const r = await rest('POST', '/api/v1/announcements', admin,
      { stream: 'all', title: '防汛通知', body: '今晚有暴雨' });
    check(r.status === 201 && r.json.offset >= 1, 'announce ' + r.status + ' ' + r.text);
    for (const c of [i, o]) {
      const f = await c.wait((x) => x.type === 'item' && x.stream === 'all' &&
        x.seq === r.json.offset, 2000, 'announcement');
      check(f.kind === 'announcement' && f.data.title === '防汛通知', JSON.stringify(f));
    }
    o.send({ type: 'presence', users: [oki.user_id, 999999], id: 'pr' });
    const pr = await o.waitType('presence');
    check(JSON.stringify(pr.online) === JSON.stringify([oki.user_id]), JSON.stringify(pr));
    // The unknown id is not listed; the colleague is, online, with a stored last-seen time.
    check(pr.users.length === 1 && pr.users[0].id === oki.user_id && pr.users[0].online === true &&
      typeof pr.users[0].last_seen === 'string', 'presence users: ' + JSON.stringify(pr));
    o.send({ type: 'typing', to: oki.user_id });
    check((await i.waitType('typing')).from === oko.user_id, 'typing');
    o.send({ type: 'send', to: oki.user_id, text: '收到请回复', client_id: 'm-1', id: 's1' });
    const sent = await o.waitType('sent');
    const got = await i.wait((x) => x.type === 'item' && x.kind === 'message', 2000, 'message');
    check(got.data.text === '收到请回复' && got.data.from === oko.user_id, JSON.stringify(got));
    // `send` to a user id is a message of the pair's direct conversation (issue 11).
    check(sent.conversation_id > 0 && got.data.conversation_id === sent.conversation_id &&
      got.data.message_id === sent.message_id && got.data.to === oki.user_id &&
      got.data.kind === 'text', 'conversation: ' + JSON.stringify([sent, got.data]));
    o.send({ type: 'send', to: oki.user_id, text: '收到请回复', client_id: 'm-1', id: 's2' });
    const sent2 = await o.waitType('sent');
    check(sent2.seq === sent.seq && sent2.message_id === sent.message_id && sent2.duplicate === true,
      'retried send stored twice: ' + JSON.stringify([sent, sent2]));
    await sleep(300);
    check(i.items.inbox.filter((s) => s === got.seq).length === 1, 'message delivered twice');
    i.send({ type: 'read', stream: 'inbox', position: got.seq, id: 'rd' });
    check((await i.waitType('read_ok')).position === got.seq, 'read_ok');
    i.close();
    o.close();
  },
};

// Kill -9 test (driven by ws_test.c): the handler's device A stays connected across restarts
// (URL re-read from a file), checking that every item arrives once, in order; device B takes its
// position at the start and catches up at the end. argv: CONFIG URLFILE STOPFILE.
scenarios.collect = async function collect() {
  const urlFile = process.argv[4];
  const stopFile = process.argv[5];
  const url = () => fs.readFileSync(urlFile, 'utf8').trim();
  const ta = await loginRole('handler', 'col-a');
  const tb = await loginRole('handler', 'col-b');
  // Device B: the whole inbox now, acknowledged, then offline.
  let b = new Client(tb, { url: url() });
  await b.ready({ inbox: 0 });
  await sleep(300);
  const bpos = b.items.inbox ? b.items.inbox[b.items.inbox.length - 1] : 0;
  b.send({ type: 'ack', stream: 'inbox', position: bpos });
  await b.waitType('acked');
  b.close();
  let last = bpos;
  let reconnects = 0;
  let acked = last;
  for (;;) {
    let c;
    try {
      c = new Client(ta, { url: url() });
      await c.opened;
    } catch (e) {
      await sleep(100);
      continue;
    }
    console.error(`collect: connected at ${last}`);
    c.send({ type: 'sync', positions: { inbox: last } });
    while (!c.closed) {
      const i = c.frames.findIndex((f) => f.type === 'item' && f.stream === 'inbox');
      if (i >= 0) {
        const f = c.frames.splice(i, 1)[0];
        check(f.seq === last + 1, `device A: item ${f.seq} after ${last} (gap or duplicate)`);
        last = f.seq;
        if (last - acked >= 5) {
          c.send({ type: 'ack', stream: 'inbox', position: last });
          acked = last;
        }
        continue;
      }
      if (fs.existsSync(stopFile)) {
        const head = parseInt(fs.readFileSync(stopFile, 'utf8'), 10);
        if (head > 0 && last >= head) {
          check(last === head, `device A ends at ${last}, head ${head}`);
          c.close();
          // Device B catches up from its stored position.
          b = new Client(tb, { url: url() });
          await b.ready();
          contiguous(b.items.inbox || [], bpos, head, 'device B after the restarts');
          b.close();
          console.log(JSON.stringify({ device_a_last: last, device_b_from: bpos, reconnects }));
          return;
        }
      }
      await new Promise((r) => { c.wakers.push(r); setTimeout(r, 50); });
    }
    reconnects++;
    console.error(`collect: socket closed ${JSON.stringify(c.closed)} at ${last}; reconnecting`);
    await sleep(100);
  }
};

run(scenarios);

#!/usr/bin/env node
// tests/e2e/tools/im_scenarios.js SCENARIO CONFIG.json [ARGS...]: instant-messaging scenarios
// (issue 11) against a running cityd, driven by tests/e2e/im_test.c. The client is npm's `ws`
// (tests/tools/package.json); REST calls use Node's fetch. Exit 0 = passed; anything else
// prints the reason. CONFIG: {base, ws, logins: {role: {username, password}}, sanitation,
// municipal, extra: {username, password}}.
'use strict';
const fs = require('fs');
const { cfg, WebSocket, CAT, GRID1, fail, check, sleep, rest, login, loginRoleAs, run } =
  require('./scenario_lib');

const loginRole = loginRoleAs('im');

// One WebSocket client: frames kept in arrival order; wait() takes the first that matches.
class Client {
  constructor(token, url) {
    this.ws = new WebSocket(url || cfg.ws, 'cityd.v1',
      { headers: { authorization: 'Bearer ' + token }, perMessageDeflate: false });
    this.frames = [];
    this.items = {};
    this.closed = null;
    this.wakers = [];
    this.opened = new Promise((res, rej) => {
      this.ws.on('open', res);
      this.ws.on('error', (e) => { this.error = e; this._wake(); rej(e); });
    });
    this.opened.catch(() => {});
    this.ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'item') (this.items[f.stream] = this.items[f.stream] || []).push(f);
      this.frames.push(f);
      this._wake();
    });
    this.ws.on('close', (code) => { this.closed = { code }; this._wake(); });
  }
  _wake() {
    const w = this.wakers;
    this.wakers = [];
    w.forEach((f) => f());
  }
  send(obj) { this.ws.send(JSON.stringify(obj)); }
  async wait(pred, ms, what) {
    const end = Date.now() + (ms || 3000);
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closed) throw new Error(`${what || 'frame'}: socket closed`);
      const left = end - Date.now();
      if (left <= 0) fail(`${what || 'frame'}: none within ${ms || 3000} ms; have ` +
        JSON.stringify(this.frames.slice(-5)));
      await new Promise((r) => { this.wakers.push(r); setTimeout(r, left); });
    }
  }
  // The answer to request id (or an error frame with that id).
  async answer(id, ms) { return this.wait((f) => f.id === id, ms || 5000, 'answer ' + id); }
  async ready(positions) {
    await this.opened;
    const ok = await this.wait((f) => f.type === 'auth_ok', 3000, 'auth_ok');
    this.send(positions ? { type: 'sync', positions } : { type: 'sync' });
    await this.wait((f) => f.type === 'synced' && f.stream === 'inbox', 5000, 'synced inbox');
    return ok;
  }
  inbox(pred) { return (this.items.inbox || []).filter(pred); }
  close() { try { this.ws.close(1000); } catch (e) { /* gone */ } }
}

async function me(token) {
  const r = await rest('GET', '/api/v1/me', token);
  check(r.status === 200, 'me: ' + r.status + ' ' + r.text);
  return r.json.id || r.json.user_id;
}

async function direct(token, peer) {
  const r = await rest('POST', '/api/v1/conversations', token, { kind: 'direct', user_id: peer });
  check(r.status === 201 || r.status === 200, 'open direct: ' + r.status + ' ' + r.text);
  return r.json;
}

let nextId = 0;
async function request(c, frame, ms) {
  const id = 'r' + (++nextId);
  c.send(Object.assign({ id }, frame));
  return c.answer(id, ms);
}

const scenarios = {
  // A message to an offline member arrives on reconnect: every one, in order, once; unread
  // counts over REST; REST and socket see the same messages.
  async offline_replay() {
    const ta = await loginRole('dispatcher', 'off-a');
    const tb = await loginRole('inspector', 'off-b');
    const bid = await me(tb);
    const conv = await direct(ta, bid);
    // B: take the whole inbox, acknowledge it, go offline.
    let b = new Client(tb);
    await b.ready({ inbox: 0 });
    await sleep(200);
    const all = b.items.inbox || [];
    const bpos = all.length ? all[all.length - 1].seq : 0;
    check((await request(b, { type: 'ack', stream: 'inbox', position: bpos })).type === 'acked',
      'ack');
    b.close();
    await sleep(100);
    const a = new Client(ta);
    await a.ready();
    const sent = [];
    for (let i = 0; i < 5; i++) {
      const f = await request(a, { type: 'send', conversation_id: conv.id, client_id: `off-${i}`,
        text: `第${i}条消息` });
      check(f.type === 'sent' && f.conversation_id === conv.id && f.duplicate === false,
        'sent: ' + JSON.stringify(f));
      sent.push(f);
    }
    check(sent.every((f, i) => i === 0 || f.conversation_seq === sent[i - 1].conversation_seq + 1),
      'conversation seqs not consecutive: ' + JSON.stringify(sent));
    let r = await rest('GET', '/api/v1/conversations', tb);
    const row = r.json.items.find((x) => x.id === conv.id);
    check(row && row.unread === 5 && row.kind === 'direct' && row.peer_id !== bid,
      'unread over REST: ' + JSON.stringify(row));
    // B comes back: sync from its stored position.
    b = new Client(tb);
    await b.ready();
    await sleep(300);
    const got = b.inbox((f) => f.kind === 'message' && f.data.conversation_id === conv.id);
    check(got.length === 5, 'replayed messages: ' + JSON.stringify(got.map((f) => f.data.client_id)));
    got.forEach((f, i) => check(f.data.text === `第${i}条消息` && f.data.from !== bid &&
      f.data.message_id === sent[i].message_id, 'message ' + i + ': ' + JSON.stringify(f)));
    const seqs = (b.items.inbox || []).map((f) => f.seq);
    seqs.forEach((s, i) => check(s === bpos + 1 + i, `inbox seq ${s} at ${i} after ${bpos}`));
    // A live message reaches B's socket directly.
    await request(a, { type: 'send', to: bid, client_id: 'off-live', text: '在吗' });
    const live = await b.wait((f) => f.type === 'item' && f.kind === 'message' &&
      f.data.client_id === 'off-live', 2000, 'live message');
    check(live.data.conversation_id === conv.id, '1:1 send by user id uses the same conversation');
    // REST history, newest first, with paging.
    r = await rest('GET', `/api/v1/conversations/${conv.id}/messages?limit=4`, tb);
    check(r.status === 200 && r.json.items.length === 4 && r.json.more === true &&
      r.json.items[0].client_id === 'off-live', 'history: ' + r.text);
    r = await rest('GET', `/api/v1/conversations/${conv.id}/messages?before=${r.json.next_before}`,
      tb);
    check(r.status === 200 && r.json.items.length === 2 && r.json.more === false, 'page 2: ' + r.text);
    // Read receipt: B read everything; A sees it on its socket and as read counts.
    const rd = await request(b, { type: 'read', conversation_id: conv.id, seq: live.data.seq });
    check(rd.type === 'read_ok' && rd.unread === 0, 'read_ok: ' + JSON.stringify(rd));
    const receipt = await a.wait((f) => f.type === 'item' && f.kind === 'conversation.read', 2000,
      'receipt');
    check(receipt.data.user_id === bid && receipt.data.seq === live.data.seq, JSON.stringify(receipt));
    r = await rest('GET', `/api/v1/conversations/${conv.id}/messages?limit=1`, ta);
    check(r.json.items[0].read_count === 1, 'read_count: ' + r.text);
    r = await rest('POST', `/api/v1/conversations/${conv.id}/read`, tb, { seq: 1 });
    check(r.status === 200 && r.json.read_seq === live.data.seq, 'receipts move forward only: ' + r.text);
    a.close();
    b.close();
  },

  // The same client message id three times: one message, one inbox item per member.
  async idempotent() {
    const ta = await loginRole('dispatcher', 'idem-a');
    const tb = await loginRole('inspector', 'idem-b');
    const bid = await me(tb);
    const conv = await direct(ta, bid);
    const a = new Client(ta);
    const b = new Client(tb);
    await a.ready();
    await b.ready();
    const answers = [];
    for (let i = 0; i < 2; i++)
      answers.push(await request(a, { type: 'send', conversation_id: conv.id,
        client_id: 'idem-1', text: '只应出现一次' }));
    const r = await rest('POST', `/api/v1/conversations/${conv.id}/messages`, ta,
      { client_id: 'idem-1', text: '只应出现一次' });
    check(r.status === 200 && r.json.id === answers[0].message_id, 'REST retry: ' + r.status + ' ' + r.text);
    check(answers[0].duplicate === false && answers[1].duplicate === true &&
      answers[1].message_id === answers[0].message_id && answers[1].seq === answers[0].seq,
    'answers: ' + JSON.stringify(answers));
    await sleep(400);
    const got = b.inbox((f) => f.kind === 'message' && f.data.client_id === 'idem-1');
    check(got.length === 1, 'delivered ' + got.length + ' times');
    a.close();
    b.close();
  },

  // Only members read, send or subscribe: over REST and on the socket.
  async non_member() {
    const ta = await loginRole('dispatcher', 'nm-a');
    const tb = await loginRole('inspector', 'nm-b');
    const tc = await loginRole('operator', 'nm-c');
    const conv = await direct(ta, await me(tb));
    let r = await rest('GET', `/api/v1/conversations/${conv.id}/messages`, tc);
    check(r.status === 403 && r.json.error.code === 'permission_denied', 'REST read: ' + r.text);
    r = await rest('GET', `/api/v1/conversations/${conv.id}`, tc);
    check(r.status === 403, 'REST get: ' + r.text);
    r = await rest('POST', `/api/v1/conversations/${conv.id}/messages`, tc,
      { client_id: 'nm-1', text: '偷偷插话' });
    check(r.status === 403 && r.json.error.code === 'permission_denied', 'REST send: ' + r.text);
    r = await rest('POST', `/api/v1/conversations/${conv.id}/read`, tc, { seq: 0 });
    check(r.status === 403, 'REST receipt: ' + r.text);
    const c = new Client(tc);
    await c.ready();
    for (const f of [{ type: 'subscribe', conversation_id: conv.id },
      { type: 'send', conversation_id: conv.id, client_id: 'nm-2', text: '偷偷插话' },
      { type: 'read', conversation_id: conv.id, seq: 0 }]) {
      const ans = await request(c, f);
      check(ans.type === 'error' && ans.code === 'permission_denied', f.type + ': ' + JSON.stringify(ans));
    }
    // Typing into a conversation not subscribed to is refused too.
    const t = await request(c, { type: 'typing', conversation_id: conv.id });
    check(t.type === 'error' && t.code === 'invalid_argument', 'typing: ' + JSON.stringify(t));
    // A member subscribes and gets the other member's typing.
    const a = new Client(ta);
    const b = new Client(tb);
    await a.ready();
    await b.ready();
    check((await request(a, { type: 'subscribe', conversation_id: conv.id })).type === 'subscribed',
      'member subscribe');
    check((await request(b, { type: 'subscribe', conversation_id: conv.id })).type === 'subscribed',
      'member subscribe b');
    b.send({ type: 'typing', conversation_id: conv.id });
    const ty = await a.wait((f) => f.type === 'typing', 2000, 'typing');
    check(ty.conversation_id === conv.id, JSON.stringify(ty));
    r = await rest('GET', `/api/v1/conversations/${conv.id}/messages`, tb);
    check(r.status === 200 && !r.json.items.some((m) => m.client_id === 'nm-1' ||
      m.client_id === 'nm-2'), 'nothing was stored: ' + r.text);
    a.close();
    b.close();
    c.close();
  },

  // Recall: by the sender within 2 minutes; members get message.recalled; after 2 minutes
  // (the testing clock moved forward) refused.
  async recall() {
    const ta = await loginRole('dispatcher', 'rc-a');
    const tb = await loginRole('inspector', 'rc-b');
    const admin = await loginRole('admin', 'rc-admin');
    const conv = await direct(ta, await me(tb));
    const a = new Client(ta);
    const b = new Client(tb);
    await a.ready();
    await b.ready();
    const m1 = await request(a, { type: 'send', conversation_id: conv.id, client_id: 'rc-1',
      text: '发错了' });
    const m2 = await request(a, { type: 'send', conversation_id: conv.id, client_id: 'rc-2',
      text: '这条留着' });
    // Not the sender: refused.
    let ans = await request(b, { type: 'recall', message_id: m1.message_id });
    check(ans.type === 'error' && ans.code === 'permission_denied', 'recall by peer: ' + JSON.stringify(ans));
    ans = await request(a, { type: 'recall', message_id: m1.message_id });
    check(ans.type === 'recalled' && ans.message_id === m1.message_id, JSON.stringify(ans));
    const it = await b.wait((f) => f.type === 'item' && f.kind === 'message.recalled', 2000,
      'recalled item');
    check(it.data.message_id === m1.message_id, JSON.stringify(it));
    let r = await rest('GET', `/api/v1/conversations/${conv.id}/messages`, tb);
    const gone = r.json.items.find((m) => m.id === m1.message_id);
    check(gone && gone.recalled === true && gone.text === undefined, 'recalled content: ' + r.text);
    // Two minutes and a bit later.
    r = await rest('PUT', '/api/v1/testing/clock', admin, { offset_ms: 121000 });
    check(r.status === 200, 'clock: ' + r.text);
    try {
      ans = await request(a, { type: 'recall', message_id: m2.message_id });
      check(ans.type === 'error' && ans.code === 'invalid_state', 'late recall: ' + JSON.stringify(ans));
      r = await rest('POST', `/api/v1/messages/${m2.message_id}/recall`, ta);
      check(r.status === 409 && r.json.error.code === 'invalid_state', 'late REST recall: ' + r.text);
      r = await rest('GET', `/api/v1/conversations/${conv.id}/messages`, tb);
      const kept = r.json.items.find((m) => m.id === m2.message_id);
      check(kept && kept.recalled === false && kept.text === '这条留着', 'kept: ' + r.text);
    } finally {
      await rest('PUT', '/api/v1/testing/clock', admin, { offset_ms: 0 });
    }
    a.close();
    b.close();
  },

  // The case room: opened by the dispatcher with the case's participants; the handling
  // department's handler leaves when the case is returned and re-dispatched elsewhere, and the
  // new department's handler joins.
  async case_room() {
    const t = {};
    for (const role of ['citizen', 'operator', 'shift_lead', 'dispatcher', 'handler', 'leader'])
      t[role] = await loginRole(role, 'room-' + role);
    t.extra = await login(cfg.extra.username, cfg.extra.password, 'room-extra');
    const hid = await me(t.handler);
    const xid = await me(t.extra);
    const did = await me(t.dispatcher);
    let r = await rest('POST', '/api/v1/cases', t.citizen,
      Object.assign({ description: '井盖缺失需处置', location: GRID1 }, CAT));
    check(r.status === 201, 'report: ' + r.text);
    const caseId = r.json.id;
    let version = r.json.version;
    const act = async (role, body) => {
      const x = await rest('POST', `/api/v1/cases/${caseId}/actions`, t[role],
        Object.assign({ version }, body));
      check(x.status === 200, `${body.action}: ${x.status} ${x.text}`);
      version = x.json.version;
    };
    await act('operator', { action: 'accept' });
    await act('shift_lead', { action: 'register' });
    await act('dispatcher', { action: 'dispatch', department_id: cfg.sanitation });
    // A citizen has no chat.
    r = await rest('POST', '/api/v1/conversations', t.citizen, { kind: 'case', case_id: caseId });
    check(r.status === 403, 'citizen opens a case room: ' + r.text);
    r = await rest('POST', '/api/v1/conversations', t.dispatcher, { kind: 'case', case_id: caseId });
    check(r.status === 201 && r.json.kind === 'case' && r.json.case_id === caseId, 'open: ' + r.text);
    const room = r.json.id;
    r = await rest('POST', '/api/v1/conversations', t.handler, { kind: 'case', case_id: caseId });
    check(r.status === 200 && r.json.id === room, 'same room: ' + r.text);
    r = await rest('GET', `/api/v1/conversations/${room}`, t.dispatcher);
    let members = r.json.member_ids;
    check(members.includes(hid) && members.includes(did) && !members.includes(xid),
      'members at dispatch: ' + r.text);
    const h = new Client(t.handler);
    const x = new Client(t.extra);
    await h.ready();
    await x.ready();
    // Returned by 环卫, re-dispatched to 市政.
    await act('handler', { action: 'return', text: '不属于本单位' });
    await act('dispatcher', { action: 'dispatch', department_id: cfg.municipal });
    const left = await h.wait((f) => f.type === 'item' && f.kind === 'conversation.left' &&
      f.data.conversation_id === room, 3000, 'left item');
    const joined = await x.wait((f) => f.type === 'item' && f.kind === 'conversation.joined' &&
      f.data.conversation_id === room, 3000, 'joined item');
    check(left.data.case_id === caseId && joined.data.case_id === caseId, 'items name the case');
    r = await rest('GET', `/api/v1/conversations/${room}`, t.dispatcher);
    members = r.json.member_ids;
    check(!members.includes(hid) && members.includes(xid) && members.includes(did),
      'members after re-dispatch: ' + r.text);
    // The old handler can no longer read or send; the new one can.
    r = await rest('GET', `/api/v1/conversations/${room}/messages`, t.handler);
    check(r.status === 403, 'old handler reads: ' + r.text);
    r = await rest('POST', `/api/v1/conversations/${room}/messages`, t.extra,
      { client_id: 'room-1', kind: 'case_card', case_id: caseId });
    check(r.status === 201 && r.json.case_id === caseId && r.json.kind === 'case_card',
      'new handler sends a case card: ' + r.text);
    const m = await x.wait((f) => f.type === 'item' && f.kind === 'message' &&
      f.data.client_id === 'room-1', 2000, 'own copy');
    check(m.data.case_id === caseId, JSON.stringify(m));
    await sleep(300);
    check(!h.inbox((f) => f.kind === 'message' && f.data.conversation_id === room).length,
      'a member who left got a message');
    // A location message from the dispatcher.
    r = await rest('POST', `/api/v1/conversations/${room}/messages`, t.dispatcher,
      { client_id: 'room-2', kind: 'location', lat: 31.3051, lng: 120.6052, address: '东华路口' });
    check(r.status === 201 && Math.abs(r.json.lat - 31.3051) < 1e-6 && r.json.address === '东华路口',
      'location: ' + r.text);
    r = await rest('POST', `/api/v1/conversations/${room}/messages`, t.dispatcher,
      { client_id: 'room-3', kind: 'location', lat: 31.3 });
    check(r.status === 400 && r.json.error.message === 'lat, lng: required for location',
      'location without lng: ' + r.text);
    // "Was it sent", not "is it non-zero": 0, 0 is a place (and lng: null is not sent).
    r = await rest('POST', `/api/v1/conversations/${room}/messages`, t.dispatcher,
      { client_id: 'room-4', kind: 'location', lat: 0, lng: 0 });
    check(r.status === 201 && r.json.lat === 0 && r.json.lng === 0, 'location at 0, 0: ' + r.text);
    r = await rest('POST', `/api/v1/conversations/${room}/messages`, t.dispatcher,
      { client_id: 'room-5', kind: 'location', lat: 31.3, lng: null });
    check(r.status === 400, 'location with lng null: ' + r.text);
    r = await rest('POST', `/api/v1/conversations/${room}/messages`, t.dispatcher,
      { client_id: 'room-6', kind: 'location', lat: 91, lng: 120.6 });
    check(r.status === 400 && r.json.error.code === 'invalid_argument', 'location at lat 91: ' + r.text);
    // A leader may join by hand (pinned) and stays across syncs.
    r = await rest('POST', '/api/v1/conversations', t.leader, { kind: 'case', case_id: caseId });
    check(r.status === 200 && r.json.id === room, 'leader joins: ' + r.text);
    h.close();
    x.close();
  },

  // Presence: colleagues see online and last seen; citizens are never shown and cannot ask.
  async presence() {
    const ta = await loginRole('dispatcher', 'pr-a');
    const tb = await loginRole('inspector', 'pr-b');
    const tc = await loginRole('citizen', 'pr-c');
    const bid = await me(tb);
    const cid = await me(tc);
    const b = new Client(tb);
    await b.ready();
    const c = new Client(tc);
    await c.ready();
    const a = new Client(ta);
    await a.ready();
    let p = await request(a, { type: 'presence', users: [bid, cid, 99999999] });
    check(p.type === 'presence', JSON.stringify(p));
    check(p.users.length === 1 && p.users[0].id === bid && p.users[0].online === true &&
      typeof p.users[0].last_seen === 'string', 'presence: ' + JSON.stringify(p));
    check(JSON.stringify(p.online) === JSON.stringify([bid]), 'online: ' + JSON.stringify(p));
    check(p.users.every((u) => u.id !== cid) && !p.online.includes(cid), 'citizen shown: ' + JSON.stringify(p));
    const q = await request(c, { type: 'presence', users: [bid] });
    check(q.type === 'error' && q.code === 'permission_denied', 'citizen asks: ' + JSON.stringify(q));
    // Offline: last seen stays, stored.
    b.close();
    await sleep(500);
    p = await request(a, { type: 'presence', users: [bid] });
    check(p.users[0].online === false && p.users[0].last_seen, 'after close: ' + JSON.stringify(p));
    a.close();
    c.close();
  },

  // 公文通知 to a department with read statistics for the sender.
  async announcement_stats() {
    const td = await loginRole('dispatcher', 'an-d');
    const th = await loginRole('handler', 'an-h');
    const ti = await loginRole('inspector', 'an-i');
    const h = new Client(th);
    await h.ready();
    let r = await rest('POST', '/api/v1/announcements', td,
      { stream: 'dept.' + cfg.sanitation, title: '关于加强夜间保洁的通知', body: '请各班组落实。' });
    check(r.status === 201 && r.json.recipients >= 1 && r.json.id >= 1, 'announce: ' + r.text);
    const an = r.json;
    const it = await h.wait((f) => f.type === 'item' && f.stream === 'dept.' + cfg.sanitation &&
      f.seq === an.offset, 2000, 'announcement item');
    check(it.data.announcement_id === an.id, JSON.stringify(it));
    r = await rest('GET', `/api/v1/announcements/${an.id}`, td);
    check(r.status === 200 && r.json.read === 0 && r.json.recipients === an.recipients &&
      r.json.unread === an.recipients, 'stats before: ' + r.text);
    r = await rest('POST', `/api/v1/announcements/${an.id}/read`, th);
    check(r.status === 204, 'read: ' + r.status + ' ' + r.text);
    r = await rest('POST', `/api/v1/announcements/${an.id}/read`, th);
    check(r.status === 204, 'read again: ' + r.status);
    r = await rest('POST', `/api/v1/announcements/${an.id}/read`, ti);
    check(r.status === 404, 'not a recipient: ' + r.text);
    r = await rest('GET', `/api/v1/announcements/${an.id}`, td);
    check(r.status === 200 && r.json.read === 1 && !r.json.unread_user_ids.includes(await me(th)),
      'stats after: ' + r.text);
    r = await rest('GET', `/api/v1/announcements/${an.id}`, ti);
    check(r.status === 403, 'stats by another: ' + r.text);
    h.close();
  },

  // Attachments: a voice clip with an ID3 tag naming a place is served without it; a chat
  // photo or clip is readable by the conversation's members only, and by nobody else after a
  // recall (but its uploader).
  async attachments() {
    const ta = await loginRole('dispatcher', 'at-a');
    const tb = await loginRole('inspector', 'at-b');
    const tc = await loginRole('operator', 'at-c');
    const conv = await direct(ta, await me(tb));
    // MP3: an ID3v2.4 tag (128 bytes) with a location, 40 frames of 128 kbit/s at 44.1 kHz.
    const tag = Buffer.alloc(138);
    Buffer.from('ID3\x04\x00\x00\x00\x00\x01\x00', 'latin1').copy(tag);
    Buffer.from('TXXX GPS=31.3051,120.6052 东华路', 'utf8').copy(tag, 10);
    const frames = [];
    for (let i = 0; i < 40; i++) {
      const f = Buffer.alloc(417, 0x55);
      Buffer.from([0xFF, 0xFB, 0x90, 0x00]).copy(f);
      frames.push(f);
    }
    const clip = Buffer.concat([tag, ...frames]);
    let r = await fetch(cfg.base + '/api/v1/media', { method: 'POST', body: clip,
      headers: { authorization: 'Bearer ' + ta, 'content-type': 'audio/mpeg' } });
    const up = await r.json();
    check(r.status === 201 && up.kind === 'voice', 'upload: ' + r.status + ' ' + JSON.stringify(up));
    r = await rest('POST', `/api/v1/conversations/${conv.id}/messages`, ta,
      { client_id: 'at-1', kind: 'voice', media_id: up.id });
    check(r.status === 201 && r.json.media_id === up.id && Math.abs(r.json.duration_ms - 1045) <= 5,
      'voice message: ' + r.text);
    const msgId = r.json.id;
    // An image kind with a voice clip is refused; someone else's upload too.
    r = await rest('POST', `/api/v1/conversations/${conv.id}/messages`, ta,
      { client_id: 'at-2', kind: 'image', media_id: up.id });
    check(r.status === 400, 'voice as image: ' + r.text);
    r = await rest('POST', `/api/v1/conversations/${conv.id}/messages`, tb,
      { client_id: 'at-3', kind: 'voice', media_id: up.id });
    check(r.status === 400, "another's upload: " + r.text);
    const get = async (tok) => {
      const x = await fetch(cfg.base + '/api/v1/media/' + up.id,
        { headers: { authorization: 'Bearer ' + tok } });
      return { status: x.status, body: Buffer.from(await x.arrayBuffer()) };
    };
    let g = await get(tb);
    check(g.status === 200, 'member reads the clip: ' + g.status);
    check(g.body.length === 40 * 417 && g.body[0] === 0xFF &&
      !g.body.includes(Buffer.from('GPS')) && !g.body.includes(Buffer.from('ID3')),
    'served with its tag: ' + g.body.length);
    g = await get(tc);
    check(g.status === 404, 'non-member reads the clip: ' + g.status);
    r = await rest('POST', `/api/v1/messages/${msgId}/recall`, ta);
    check(r.status === 200 && r.json.recalled === true, 'recall: ' + r.text);
    g = await get(tb);
    check(g.status === 404, 'member reads a recalled clip: ' + g.status);
    g = await get(ta);
    check(g.status === 200, 'the uploader still reads it: ' + g.status);
  },
};

// kill -9 test (driven by im_test.c): the sender sends COUNT messages one after another,
// each until acknowledged (`sent`), reconnecting (URL re-read from a file) and resending with
// the same client id after a failure; prints the acknowledged client ids. argv: CONFIG URLFILE
// CONV COUNT.
scenarios.sender = async function sender() {
  const url = () => fs.readFileSync(process.argv[4], 'utf8').trim();
  const conv = parseInt(process.argv[5], 10);
  const count = parseInt(process.argv[6], 10);
  // One log-in before the kills: the token outlives restarts (REST moves to another port).
  const token = await loginRole('dispatcher', 'k9-a');
  let c = null;
  const acked = [];
  for (let i = 0; i < count;) {
    try {
      if (!c || c.closed) {
        c = new Client(token, url());
        await c.opened;
        await c.wait((f) => f.type === 'auth_ok', 3000, 'auth_ok');
      }
      const id = 'k' + i + '-' + Date.now();
      c.send({ type: 'send', conversation_id: conv, client_id: `k9-${i}`, text: `消息${i}`, id });
      const f = await Promise.race([c.wait((x) => x.id === id, 3000, 'sent').catch(() => null),
        sleep(3000).then(() => null)]);
      if (f && f.type === 'sent') {
        acked.push(`k9-${i}`);
        i++;
      } else {
        if (c) c.close();
        c = null;
        await sleep(200);
      }
    } catch (e) {
      c = null;
      await sleep(200);
    }
  }
  if (c) c.close();
  console.log(JSON.stringify(acked));
};

// Presence across nodes (argv: the second node's WebSocket URL and its pid): a user whose
// socket sits on the other node is online here; offline once it closes; a killed node's
// sockets count until its last heartbeat is 30 s old (node 1's clock is moved to see it).
scenarios.presence_nodes = async function presenceNodes() {
  const ws2 = process.argv[4];
  const pid2 = parseInt(process.argv[5], 10);
  const ta = await loginRole('dispatcher', 'pn-a');
  const tb = await loginRole('inspector', 'pn-b');
  const tadm = await loginRole('admin', 'pn-adm');
  const bid = await me(tb);
  const a = new Client(ta);
  await a.ready();
  const ask = async () => {
    const p = await request(a, { type: 'presence', users: [bid] });
    check(p.type === 'presence' && p.users.length === 1, JSON.stringify(p));
    check(p.users[0].online === p.online.includes(bid), 'online list: ' + JSON.stringify(p));
    return p.users[0].online;
  };
  check(await ask() === false, 'online before any socket');
  let b = new Client(tb, ws2);
  await b.ready();
  check(await ask() === true, 'a socket on the other node');
  b.close();
  await sleep(500);
  check(await ask() === false, 'after its close on the other node');
  b = new Client(tb, ws2);
  await b.ready();
  check(await ask() === true, 'a socket on the other node, again');
  process.kill(pid2, 'SIGKILL');
  await b.wait(() => b.closed, 3000, 'the killed node drops the socket').catch(() => {});
  check(b.closed, 'socket still open after the node was killed');
  check(await ask() === true, 'a killed node counts until its heartbeat is 30 s old');
  const r = await rest('PUT', '/api/v1/testing/clock', tadm, { offset_ms: 31000 });
  check(r.status === 200, 'clock: ' + r.status + ' ' + r.text);
  check(await ask() === false, 'a killed node stops counting 30 s after its last heartbeat');
  a.close();
};

// After the kill test: the recipient syncs its whole inbox and finds each message exactly once.
scenarios.receiver = async function receiver() {
  const conv = parseInt(process.argv[4], 10);
  const count = parseInt(process.argv[5], 10);
  const b = new Client(await loginRole('inspector', 'k9-b'));
  await b.ready({ inbox: 0 });
  for (let i = 0; i < 50; i++) {
    if (b.inbox((f) => f.kind === 'message' && f.data.conversation_id === conv).length >= count)
      break;
    await sleep(100);
  }
  await sleep(300);
  const seqs = (b.items.inbox || []).map((f) => f.seq);
  seqs.forEach((s, i) => check(s === i + 1, `inbox seq ${s} at ${i}: gap or duplicate`));
  const msgs = b.inbox((f) => f.kind === 'message' && f.data.conversation_id === conv);
  const ids = msgs.map((f) => f.data.client_id);
  check(new Set(ids).size === ids.length, 'duplicates: ' + ids);
  for (let i = 0; i < count; i++) check(ids.includes(`k9-${i}`), `k9-${i} missing: ${ids}`);
  msgs.forEach((f, i) => check(f.data.seq === i + 1, `conversation seq ${f.data.seq} at ${i}`));
  b.close();
};

run(scenarios);

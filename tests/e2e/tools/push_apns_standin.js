#!/usr/bin/env node
'use strict';
/* A local stand-in for Apple's push service (APNs HTTP/2 provider API, token authentication),
 * for the e2e tests and bench/push.sh. HTTP/2 over TLS only, as Apple serves it.
 *
 * It checks what APNs checks and answers as Apple documents ("Communicating with APNs"):
 *   POST /3/device/<token> (else 404 BadPath / 405 MethodNotAllowed);
 *   authorization: bearer <JWT> — ES256 signed with the team key (--key-pub), header kid =
 *     --key-id, claim iss = --team, iat not older than an hour (403 ExpiredProviderToken,
 *     403 InvalidProviderToken, 403 MissingProviderToken); a connection whose token changes
 *     again within 20 minutes gets 429 TooManyProviderTokenUpdates;
 *   apns-topic = --topic (400 MissingTopic / BadTopic), apns-push-type in alert|background|…
 *   (400 InvalidPushType), apns-priority 5|10 (400 BadPriority), apns-collapse-id ≤ 64 bytes
 *   (400 BadCollapseId), apns-id a UUID (400 BadMessageId), payload JSON with "aps" (400
 *   PayloadEmpty) of at most 4096 bytes (413 PayloadTooLarge).
 * The device token chooses the answer, so one stand-in serves every case of a test:
 *   gone…  410 {"reason":"Unregistered","timestamp":…}   bad…  400 BadDeviceToken
 *   busy…  429 TooManyRequests the first time for that token, then 200
 *   fail…  503 ServiceUnavailable the first time for that token, then 200
 *   rej…   413 PayloadTooLarge                              else  200 with the apns-id echoed
 * An outage is the test killing this process (and starting it again on the same port).
 *
 * Node's own HTTP/2 limits are left at their defaults on purpose, among them nghttp2's
 * rapid-reset guard (CVE-2023-44487: a client that sends more than about 1,000 RST_STREAM
 * frames, refilled at 33 a second, gets GOAWAY INTERNAL_ERROR): a client that resets its
 * finished streams loses its connection here, as it may at Apple (server/ext/push.c).
 *
 * Every answer is appended to --log as one JSON line {t, session, token, status, reason,
 * headers, payload, iat} (unless --no-log: the bench). Usage:
 *   push_apns_standin.js --cert C --key K --key-pub P --key-id ID --team T --topic B
 *                        --port N (0: any) --port-file F [--log L] [--no-log]
 */
const http2 = require('http2');
const crypto = require('crypto');
const fs = require('fs');

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--no-log') args.noLog = true;
  else args[a.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = process.argv[++i];
}
const pub = crypto.createPublicKey(fs.readFileSync(args.keyPub));
const seen = new Map(); // token -> answers so far (busy…/fail… succeed the second time)
let sessions = 0;
let logBuf = [];

function flushLog() {
  if (!args.log || logBuf.length === 0) return;
  fs.appendFileSync(args.log, logBuf.join(''));
  logBuf = [];
}
setInterval(flushLog, 20).unref();

function b64urlJson(s) {
  try {
    return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch (e) {
    return null;
  }
}

/* null when the token is good, else [status, reason]. */
function checkJwt(auth, sess) {
  if (!auth || !auth.startsWith('bearer ')) return [403, 'MissingProviderToken'];
  const jwt = auth.slice(7);
  const parts = jwt.split('.');
  if (parts.length !== 3) return [403, 'InvalidProviderToken'];
  const head = b64urlJson(parts[0]);
  const claims = b64urlJson(parts[1]);
  if (!head || !claims || head.alg !== 'ES256' || head.kid !== args.keyId || claims.iss !== args.team)
    return [403, 'InvalidProviderToken'];
  const sig = Buffer.from(parts[2], 'base64url');
  const ok = sig.length === 64 && crypto.verify('sha256', Buffer.from(parts[0] + '.' + parts[1]),
    { key: pub, dsaEncoding: 'ieee-p1363' }, sig);
  if (!ok) return [403, 'InvalidProviderToken'];
  const now = Date.now() / 1000;
  if (typeof claims.iat !== 'number' || claims.iat > now + 60) return [403, 'InvalidProviderToken'];
  if (now - claims.iat > 3600) return [403, 'ExpiredProviderToken'];
  if (sess.jwt !== jwt) {
    if (sess.jwt && Date.now() - sess.jwtSince < 20 * 60 * 1000) return [429, 'TooManyProviderTokenUpdates'];
    sess.jwt = jwt;
    sess.jwtSince = Date.now();
  }
  return null;
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(args.cert),
  key: fs.readFileSync(args.key),
  allowHTTP1: false,
  settings: { maxConcurrentStreams: 1000 },
});

server.on('session', (s) => {
  s.cityd = { id: ++sessions, jwt: null, jwtSince: 0 };
  // A session that Node ends with an error (GOAWAY) must not end the stand-in.
  s.on('error', (e) => process.stderr.write(`apns stand-in: session ${s.cityd.id}: ${e.code || e.message}\n`));
});

server.on('stream', (stream, headers) => {
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('end', () => {
    const sess = stream.session.cityd;
    const body = Buffer.concat(chunks);
    const path = headers[':path'] || '';
    const m = /^\/3\/device\/([^/?]+)$/.exec(path);
    const token = m ? decodeURIComponent(m[1]) : '';
    let apnsId = headers['apns-id'] || crypto.randomUUID().toUpperCase();
    let status = 200;
    let reason = null;
    let payload = null;
    const fail = (st, r) => {
      if (status === 200) {
        status = st;
        reason = r;
      }
    };

    if (headers[':method'] !== 'POST') fail(405, 'MethodNotAllowed');
    if (!m) fail(404, 'BadPath');
    const jwtErr = checkJwt(headers.authorization, sess);
    if (jwtErr) fail(jwtErr[0], jwtErr[1]);
    if (!headers['apns-topic']) fail(400, 'MissingTopic');
    else if (headers['apns-topic'] !== args.topic) fail(400, 'BadTopic');
    if (!['alert', 'background', 'voip', 'complication', 'fileprovider', 'mdm', 'location',
      'liveactivity', 'pushtotalk'].includes(headers['apns-push-type'])) fail(400, 'InvalidPushType');
    if (headers['apns-priority'] !== undefined && !['5', '10', '1'].includes(headers['apns-priority']))
      fail(400, 'BadPriority');
    if (headers['apns-collapse-id'] !== undefined && Buffer.byteLength(headers['apns-collapse-id']) > 64)
      fail(400, 'BadCollapseId');
    if (headers['apns-id'] !== undefined &&
      !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(headers['apns-id']))
      fail(400, 'BadMessageId');
    if (body.length > 4096) fail(413, 'PayloadTooLarge');
    try {
      payload = JSON.parse(body.toString('utf8'));
      if (!payload || typeof payload.aps !== 'object') fail(400, 'PayloadEmpty');
    } catch (e) {
      fail(400, 'PayloadEmpty');
    }
    if (m && !token) fail(400, 'MissingDeviceToken');
    if (status === 200) {
      const n = (seen.get(token) || 0) + 1;
      seen.set(token, n);
      if (token.startsWith('gone')) fail(410, 'Unregistered');
      else if (token.startsWith('bad')) fail(400, 'BadDeviceToken');
      else if (token.startsWith('busy') && n === 1) fail(429, 'TooManyRequests');
      else if (token.startsWith('fail') && n === 1) fail(503, 'ServiceUnavailable');
      else if (token.startsWith('rej')) fail(413, 'PayloadTooLarge');
    }
    const out = { 'apns-id': apnsId };
    if (status === 200) {
      stream.respond({ ':status': 200, ...out });
      stream.end();
    } else {
      const r = { reason };
      if (status === 410) r.timestamp = Date.now();
      stream.respond({ ':status': status, 'content-type': 'application/json', ...out });
      stream.end(JSON.stringify(r));
    }
    if (!args.noLog) {
      const h = {};
      for (const k of Object.keys(headers)) if (k.startsWith('apns-') || k === 'content-type') h[k] = headers[k];
      let iat = null;
      if (headers.authorization) {
        const c = b64urlJson((headers.authorization.split('.')[1]) || '');
        iat = c && c.iat;
      }
      logBuf.push(JSON.stringify({ t: Date.now(), session: sess.id, token, status, reason, headers: h,
        payload, iat }) + '\n');
    }
  });
});

server.listen(Number(args.port || 0), '127.0.0.1', () => {
  const tmp = args.portFile + '.tmp';
  fs.writeFileSync(tmp, server.address().port + '\n');
  fs.renameSync(tmp, args.portFile);
});

function stop() {
  flushLog();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

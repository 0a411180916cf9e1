// tests/e2e/tools/body_hold.js PORT h2|h1 PATH AUTHORIZATION CONNS STREAMS KIB HOLD_MS
// Opens CONNS connections and on each STREAMS POST requests (HTTP/1.1: one per connection)
// announcing a 20 MiB body, sends KIB KiB of it in 16 KiB pieces, and then holds the request
// open for HOLD_MS without finishing it: bodies the server must buffer before any handler
// runs. Prints one JSON line: per connection whether the server closed it, and per stream
// its RST_STREAM code (null: not reset), response status (null: none) and KiB sent.
'use strict';
const http2 = require('http2');
const http = require('http');

const [port, proto, path, authorization, connsArg, streamsArg, kibArg, holdArg] =
  process.argv.slice(2);
const conns = Number(connsArg);
const streams = proto === 'h2' ? Number(streamsArg) : 1;
const kib = Number(kibArg);
const hold = Number(holdArg);
const total = 20 * 1024 * 1024;
const piece = Buffer.alloc(16 * 1024, 0x61);
const result = [];

function headers() {
  const h = { 'content-type': 'application/octet-stream', 'content-length': String(total) };
  if (authorization !== '-') h.authorization = authorization;
  return h;
}

// Write n pieces, waiting for the stream's buffer to drain (flow control) between them.
// A request the server ends (reset, closed) is done at once.
function feed(w, st, n, done) {
  let i = 0;
  let finished = false;
  const fin = () => { if (!finished) { finished = true; done(); } };
  w.once('close', fin);
  const next = () => {
    while (i < n) {
      if (st.reset !== null || st.closed) return fin();
      i++;
      st.kib += 16;
      if (!w.write(piece)) return w.once('drain', next);
    }
    fin();
  };
  next();
}

function runH2(c) {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => { c.closed = true; });
    session.on('goaway', () => { c.closed = true; });
    session.on('close', () => { if (!c.done) c.closed = true; });
    let fed = 0;
    for (let s = 0; s < streams; s++) {
      const st = { reset: null, status: null, kib: 0, closed: false };
      c.streams.push(st);
      const req = session.request({ ':method': 'POST', ':path': path, ...headers() });
      req.on('response', (h) => { st.status = h[':status']; });
      req.on('error', () => {});
      req.on('close', () => {
        st.closed = true;
        if (req.rstCode && req.rstCode !== 0) st.reset = req.rstCode;
      });
      req.on('data', () => {});
      feed(req, st, kib / 16, () => { if (++fed === streams) setTimeout(finish, hold); });
    }
    function finish() {
      c.done = true;
      session.destroy();
      resolve();
    }
  });
}

function runH1(c) {
  return new Promise((resolve) => {
    const agent = new http.Agent({ keepAlive: false, maxSockets: 1 });
    const st = { reset: null, status: null, kib: 0, closed: false };
    c.streams.push(st);
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent,
      headers: headers() });
    req.on('response', (res) => { st.status = res.statusCode; res.resume(); });
    req.on('error', () => { c.closed = true; st.closed = true; });
    req.on('close', () => { if (!c.done) { c.closed = true; st.closed = true; } });
    feed(req, st, kib / 16, () => setTimeout(() => {
      c.done = true;
      req.destroy();
      resolve();
    }, hold));
  });
}

(async () => {
  const runs = [];
  for (let i = 0; i < conns; i++) {
    const c = { closed: false, done: false, streams: [] };
    result.push(c);
    runs.push(proto === 'h2' ? runH2(c) : runH1(c));
  }
  await Promise.all(runs);
  console.log(JSON.stringify(result.map((c) => ({ closed: c.closed, streams: c.streams.map(
    (s) => ({ reset: s.reset, status: s.status, kib: s.kib })) }))));
  process.exit(0);
})();
setTimeout(() => { console.log('{"timeout":true}'); process.exit(0); }, 60000).unref();

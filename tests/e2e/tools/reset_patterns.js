// tests/e2e/tools/reset_patterns.js PORT PATH AUTHORIZATION MODE ARGS...
// Abandoned-request (HTTP/2 RST_STREAM) patterns against cityd's per-connection accounting.
// Prints one JSON line.
//   abusers N K  N connections one after the other, each cancelling K requests at once and
//                then waiting (up to 300 ms) for the server to close it, K more at a time, up
//                to 10 times, while it is open (only a request cancelled before its answer
//                counts, and node sends a cancel a tick after its request: on a loaded machine
//                cityd answers some first; a connection the server does not watch at all is
//                never closed however often it tries); then one more
//                connection floods 300 cancels. {"abusers","closed","floodClosed","floodSent"}
//   slow K MS    one connection cancels a request every MS ms, K times; is it still open?
//                Then it floods 300 cancels. {"slowSent","openAfterSlow","floodClosed","floodSent"}
'use strict';
const http2 = require('http2');

const [port, path, authorization, mode, a1, a2] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function open() {
  return new Promise((resolve) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.closedByServer = false;
    s.on('goaway', () => { s.closedByServer = true; });
    s.on('close', () => { if (!s.mine) s.closedByServer = true; });
    s.on('error', () => { s.closedByServer = true; });
    s.once('connect', () => resolve(s));
  });
}

function cancelOne(s) {
  if (s.closed || s.destroyed || s.closedByServer) return false;
  try {
    const req = s.request({ ':method': 'GET', ':path': path, authorization }, { endStream: true });
    req.on('error', () => {});
    req.close(http2.constants.NGHTTP2_CANCEL);
    return true;
  } catch (e) {
    s.closedByServer = true;
    return false;
  }
}

async function waitClosed(s, ms) {
  for (let t = 0; t < ms && !s.closedByServer; t += 10) await sleep(10);
  return s.closedByServer;
}

async function flood(s) {
  let sent = 0;
  for (let i = 0; i < 300; i++) {
    if (!cancelOne(s)) break;
    sent++;
    if (i % 20 === 19) await sleep(1);
  }
  const closed = await waitClosed(s, 1000);
  s.mine = true;
  s.destroy();
  return { floodClosed: closed, floodSent: sent };
}

async function main() {
  if (mode === 'abusers') {
    const n = Number(a1), k = Number(a2);
    let closed = 0;
    for (let i = 0; i < n; i++) {
      const s = await open();
      let cut = false;
      for (let round = 0; round <= 10 && !cut; round++) {
        for (let j = 0; j < k; j++) cancelOne(s);
        cut = await waitClosed(s, round ? 200 : 300);
      }
      if (cut) closed++;
      s.mine = true;
      s.destroy();
    }
    const f = await flood(await open());
    console.log(JSON.stringify({ abusers: n, closed, ...f }));
  } else {
    const k = Number(a1), ms = Number(a2);
    const s = await open();
    let sent = 0;
    for (let i = 0; i < k; i++) {
      if (cancelOne(s)) sent++;
      await sleep(ms);
    }
    const openAfterSlow = !s.closedByServer && !s.closed && !s.destroyed;
    const f = await flood(s);
    console.log(JSON.stringify({ slowSent: sent, openAfterSlow, ...f }));
  }
}

setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(0); }, 240000).unref();
main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(0); });

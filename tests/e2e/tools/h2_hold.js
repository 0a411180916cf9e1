// tests/e2e/tools/h2_hold.js PORT PATH AUTHORIZATION N MS
// Opens N HTTP/2 streams GET PATH on one connection and never reads their bodies (flow control
// stops the server after the first window), prints "ready <statuses>" once every stream has its
// response headers, holds them MS ms, then closes. For memory tests: what does the server keep
// per unread response?
'use strict';
const http2 = require('http2');

const [port, path, authorization, nArg, msArg] = process.argv.slice(2);
const n = Number(nArg);
const session = http2.connect(`http://127.0.0.1:${port}`);
const statuses = [];
session.on('error', (e) => { console.log(`error ${e}`); process.exit(0); });
for (let i = 0; i < n; i++) {
  const req = session.request({ ':path': path, authorization });
  req.on('response', (h) => {
    statuses.push(h[':status']);
    req.pause();
    if (statuses.length === n) {
      console.log(`ready ${statuses.join(',')}`);
      setTimeout(() => { console.log('done'); session.destroy(); process.exit(0); }, Number(msArg));
    }
  });
  req.on('error', () => {});
}
setTimeout(() => { console.log(`timeout ${statuses.length}`); process.exit(0); }, 60000).unref();

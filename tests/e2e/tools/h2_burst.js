// tests/e2e/tools/h2_burst.js PORT < requests.json
// Sends every request of a JSON array [{path, authorization, method, body, headers}] (method GET
// and no body unless given; a body is sent as application/json; headers: more request headers)
// on ONE HTTP/2 connection at once
// (all HEADERS frames leave in the same write), waits for all answers and prints one JSON array
// [{status, body, headers}] in the order of the input (headers: the response's, without the
// pseudo-headers, names in lower case).
'use strict';
const http2 = require('http2');

const port = process.argv[2];
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const session = http2.connect(`http://127.0.0.1:${port}`);
session.on('error', (e) => { console.error(String(e)); process.exit(1); });

session.once('connect', async () => {
  session.socket.cork();
  const answers = input.map(({ path, authorization, method, body, headers: more }) => new Promise((resolve) => {
    const headers = { ...(more || {}), ':path': path, ':method': method || 'GET' };
    if (authorization) headers.authorization = authorization;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0;
    const got = {};
    const chunks = [];
    req.on('response', (h) => {
      status = h[':status'];
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) got[k] = v;
    });
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8'), headers: got }));
    req.on('error', (e) => resolve({ status: 0, body: String(e), headers: {} }));
    if (body !== undefined) req.end(body);
  }));
  process.nextTick(() => session.socket.uncork());
  console.log(JSON.stringify(await Promise.all(answers)));
  session.close();
});

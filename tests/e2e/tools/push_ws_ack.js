#!/usr/bin/env node
// tests/e2e/tools/push_ws_ack.js WS_URL TOKEN SEQ: a phone that is online on the WebSocket —
// authenticates with its access token (Authorization header, subprotocol cityd.v1), syncs its inbox, and when item
// SEQ arrives acknowledges it (`ack`, which stores the device's position), as the app does
// (docs/ws-protocol.md). Prints the `acked` frame and exits 0; exit 1 after 20 s without it.
// The client is npm's `ws` (tests/tools/package.json).
'use strict';
const path = require('path');
const WebSocket = require(path.join(__dirname, '../../tools/node_modules/ws'));

const [url, token, want] = process.argv.slice(2);
const ws = new WebSocket(url, 'cityd.v1', {
  headers: { authorization: 'Bearer ' + token },
  perMessageDeflate: false,
});
const timer = setTimeout(() => {
  console.error('no acked frame for seq ' + want);
  process.exit(1);
}, 20000);

ws.on('message', (raw) => {
  const f = JSON.parse(raw.toString());
  if (f.type === 'auth_ok') ws.send(JSON.stringify({ type: 'sync', id: 's1' }));
  else if (f.type === 'item' && f.stream === 'inbox' && f.seq === Number(want))
    ws.send(JSON.stringify({ type: 'ack', stream: 'inbox', position: f.seq, id: 'k1' }));
  else if (f.type === 'acked') {
    console.log(JSON.stringify(f));
    clearTimeout(timer);
    ws.close();
    process.exit(0);
  }
});
ws.on('error', (e) => {
  console.error('websocket: ' + e.message);
  process.exit(1);
});

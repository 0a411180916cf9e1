// tests/e2e/tools/scenario_lib.js: what every scenario driver of the e2e suite shares (ws_scenarios.js,
// im_scenarios.js): the command line (SCENARIO CONFIG.json [ARGS...]), failing with a reason,
// REST calls with Node's fetch and log-ins. CONFIG holds at least {base, ws, logins: {role:
// {username, password}}}, written by th_client_config() in tests/lib/harness.c.
'use strict';
const fs = require('fs');
const path = require('path');

const scenario = process.argv[2];
const cfg = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const WebSocket = require(path.join(__dirname, '../../tools/node_modules/ws'));
// A report of 0102 (暴露垃圾) inside grid 1 of the demo city.
const CAT = { code_set: 'gbt30428', full_code: '0102', kind: 'event' };
const GRID1 = { lat: 31.305, lng: 120.605 };

function fail(msg) {
  console.error('FAIL ' + scenario + ': ' + msg);
  process.exit(1);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function rest(method, p, token, body, headers) {
  const h = Object.assign({ 'content-type': 'application/json' }, headers || {});
  if (token) h.authorization = 'Bearer ' + token;
  const r = await fetch(cfg.base + p, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: r.status, json, text };
}

async function login(account, password, device) {
  const r = await rest('POST', '/api/v1/auth/login', null,
    { account, password, device_id: device, platform: 'android' });
  check(r.status === 200, `login ${account}: ${r.status} ${r.text}`);
  return r.json.access_token;
}

// The seeded user of role, on device (default: "<role>-<suffix>").
function loginRoleAs(suffix) {
  return (role, device) =>
    login(cfg.logins[role].username, cfg.logins[role].password, device || role + '-' + suffix);
}

// Runs scenarios[SCENARIO] and exits 0 when it returns, 1 with the reason when it fails.
function run(scenarios) {
  (async () => {
    const fn = scenarios[scenario];
    if (!fn) fail('unknown scenario');
    await fn();
    process.exit(0);
  })().catch((e) => fail(e && e.stack ? e.stack : String(e)));
}

module.exports = { scenario, cfg, WebSocket, CAT, GRID1, fail, check, sleep, rest, login,
  loginRoleAs, run };

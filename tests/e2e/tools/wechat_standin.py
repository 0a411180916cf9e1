#!/usr/bin/python3
"""A local stand-in for WeChat's code2Session endpoint, for the e2e tests.

It answers GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code with
the same JSON fields WeChat does (openid, session_key, unionid, errcode, errmsg). The test
chooses the outcome through the code it sends, the way a real mini-program gets a code from
wx.login():

  ok.<openid>.<unionid or ->.<nonce>  success; unionid only when not "-"
  err40029.<nonce>                    {"errcode": 40029, "errmsg": "invalid code"}
  err45011.<nonce>                    {"errcode": 45011, "errmsg": "api minute-quota reach limit ..."}
  err40226.<nonce>                    {"errcode": 40226, "errmsg": "code blocked"}
  busy.<nonce>                        {"errcode": -1, "errmsg": "system error"}
  slow.<nonce>                        success after 10 s (the client must give up first)
  html.<nonce>                        HTTP 502 with an HTML body (a broken proxy)

Like WeChat, a code works once: the second use answers 40163 "code been used". A wrong appid
or secret answers 40013 / 40125, a wrong grant_type 40002. session_key values start with
"SK-LEAK-CANARY-" so a test can search cityd's answers and logs for them. Each request's
query (secret masked) is appended to --log, so a test can see what cityd sent.

Usage: wechat_standin.py --appid A --secret S --port-file F [--port N] [--log L]
It binds 127.0.0.1 (port 0 = any free port), writes the port to F, and serves until killed.
"""
import argparse
import os
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

used = set()
lock = threading.Lock()


def answer(q, appid, secret):
    if q.get("appid") != appid:
        return 200, {"errcode": 40013, "errmsg": "invalid appid"}
    if q.get("secret") != secret:
        return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
    if q.get("grant_type") != "authorization_code":
        return 200, {"errcode": 40002, "errmsg": "invalid grant_type"}
    code = q.get("js_code", "")
    if not code:
        return 200, {"errcode": 41008, "errmsg": "missing code"}
    with lock:
        if code in used:
            return 200, {"errcode": 40163, "errmsg": "code been used"}
        used.add(code)
    kind = code.split(".", 1)[0]
    if kind == "err40029":
        return 200, {"errcode": 40029, "errmsg": "invalid code"}
    if kind == "err45011":
        return 200, {"errcode": 45011, "errmsg": "api minute-quota reach limit  mustslower"}
    if kind == "err40226":
        return 200, {"errcode": 40226, "errmsg": "code blocked"}
    if kind == "busy":
        return 200, {"errcode": -1, "errmsg": "system error"}
    if kind == "html":
        return 502, None
    if kind == "slow":
        time.sleep(10)
        return 200, {"openid": "oSlow", "session_key": "SK-LEAK-CANARY-slow"}
    if kind == "ok":
        parts = code.split(".")
        if len(parts) != 4:
            return 200, {"errcode": 40029, "errmsg": "invalid code"}
        body = {"openid": parts[1], "session_key": "SK-LEAK-CANARY-" + secrets.token_hex(8)}
        if parts[2] != "-":
            body["unionid"] = parts[2]
        return 200, body
    return 200, {"errcode": 40029, "errmsg": "invalid code"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--appid", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    a = ap.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
            if a.log:
                shown = dict(q)
                if "secret" in shown:
                    shown["secret"] = "ok" if shown["secret"] == a.secret else "WRONG"
                with lock, open(a.log, "a") as f:
                    f.write(json.dumps({"path": u.path, "query": shown}) + "\n")
            if u.path != "/sns/jscode2session":
                status, body = 404, {"errcode": 404, "errmsg": "not found"}
            else:
                status, body = answer(q, a.appid, a.secret)
            if body is None:
                data, ctype = b"<html><body>502 Bad Gateway</body></html>", "text/html"
            else:
                # WeChat labels its JSON text/plain; clients must not rely on the type.
                data, ctype = json.dumps(body).encode(), "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))

    os.replace(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

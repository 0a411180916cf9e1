#!/usr/bin/python3
"""A local stand-in for a machine client's webhook receiver (the 12345 hotline bridge), for
tests/e2e/webhook_test.c. It checks what docs/open311.md tells the hotline vendor to check, written
from that page alone (hmac + hashlib, not cityd's code):

  X-Cityd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

POST <any path>: the signature is verified (constant-time compare) and t must be within 300 s of
the local clock; a bad or stale signature is answered 401. Otherwise, while the failure budget
(set through /control) is above 0, the request is answered 500 and the budget drops by one;
then 200. Every request is appended to --log as one JSON line:
  {"n", "status" (what was answered), "sig_ok", "fresh", "event_id" (header), "body" (parsed)}

POST /control {"fail": N, "secret": "..."} sets the failure budget and/or the secret (this path is
never logged as a delivery).

Usage: webhook_standin.py --port-file F --log L --secret S
It binds 127.0.0.1 on any free port, writes the port to F, and serves until killed.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


def verify(secret, header, raw, now):
    """(signature valid, timestamp fresh) for a X-Cityd-Signature header."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return False, False
    want = hmac.new(secret.encode(), str(t).encode() + b"." + raw, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(want, parts.get("v1", ""))
    return ok, abs(now - t) <= 300


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--secret", required=True)
    args = ap.parse_args()
    state = {"fail": 0, "secret": args.secret, "n": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, status):
            body = b'{"ok":true}' if status == 200 else b'{"ok":false}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/control":
                msg = json.loads(raw)
                with lock:
                    if "fail" in msg:
                        state["fail"] = int(msg["fail"])
                    if "secret" in msg:
                        state["secret"] = msg["secret"]
                return self.reply(200)
            with lock:
                sig_ok, fresh = verify(state["secret"], self.headers.get("X-Cityd-Signature"),
                                       raw, int(time.time()))
                if not (sig_ok and fresh):
                    status = 401
                elif state["fail"] > 0:
                    state["fail"] -= 1
                    status = 500
                else:
                    status = 200
                state["n"] += 1
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                line = {"n": state["n"], "status": status, "sig_ok": sig_ok, "fresh": fresh,
                        "event_id": self.headers.get("X-Cityd-Event-Id"), "body": body}
                with open(args.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.reply(status)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

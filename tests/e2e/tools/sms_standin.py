#!/usr/bin/python3
"""A local stand-in for the SMS gateway of sms.url (server/ext/sms.h), for the e2e tests.

It accepts POST <any path> with the JSON body {"phone": "...", "text": "..."}, checks the
Authorization header when --token is given (401 otherwise), appends the body as one line to
--log and answers 200 {"ok": true}. A phone number starting with "+999" is refused with 503 (a
gateway outage). The test reads the log to learn the code a phone received.

Usage: sms_standin.py --port-file F --log L [--token T]
It binds 127.0.0.1 on any free port, writes the port to F, and serves until killed.
"""
import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--token", default="")
    args = ap.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            if args.token and self.headers.get("Authorization") != "Bearer " + args.token:
                return self.reply(401, {"error": "bad token"})
            try:
                msg = json.loads(raw)
                phone, text = msg["phone"], msg["text"]
            except (ValueError, KeyError, TypeError):
                return self.reply(400, {"error": "bad body"})
            if phone.startswith("+999"):
                return self.reply(503, {"error": "gateway down"})
            with lock, open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"phone": phone, "text": text}, ensure_ascii=False) + "\n")
            self.reply(200, {"ok": True})

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

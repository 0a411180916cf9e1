#!/usr/bin/python3
"""A local stand-in for the Chinese push vendors and WeChat subscription messages
(server/ext/push_*.c), for the e2e tests: one HTTP/1.1 server that answers on each vendor's
paths with the vendor's JSON, auth scheme and codes.

  Huawei Push Kit  POST /oauth2/v3/token (client credentials), POST /v1/<app>/messages:send
                   (Bearer; {"code":"80000000","msg","requestId"})
  Honor            POST /auth/token (client credentials), POST /api/v1/<app>/sendMessage
                   (Bearer + timestamp header; {"code":200,"message","data":{"requestId"}}),
                   and with --honor-receipt-url (the address set in Honor's console) a
                   receipt a second later: {"statuses":[{"requestId","token","status":0,…}]}
  Xiaomi MiPush    POST /v3/message/regid (Authorization: key=<secret>, form; {"result":"ok",
                   "code":0,"data":{"id"}}), and the receipt callback: when the message names
                   extra.callback, POSTs data={"<id>":{"type":1|16,"targets":…,"param":…}}
                   there a second later (type 16 for a dead regId, 1 delivered)
  OPPO             POST /server/v1/auth (sign = sha256(app_key+timestamp+master_secret)),
                   POST /server/v1/message/notification/unicast (auth_token header, form
                   message=<json>; {"code":0,"data":{"messageId"}}), and when the message
                   names notification.call_back_url a receipt there a second later:
                   [{"messageId","appId","taskId","registrationIds","eventTime","param",
                   "eventType":"push_arrive"}]
  vivo             POST /message/auth (sign = md5(appId+appKey+timestamp+appSecret)),
                   POST /message/send (authToken header; {"result":0,"taskId"}), and when the
                   message names extra.callback a receipt there a second later:
                   {"<taskId>":{"param","targets"}}
  WeChat           GET /cgi-bin/token, POST /cgi-bin/message/subscribe/send?access_token=
                   ({"errcode":0,"msgid"})

Wrong credentials, signatures or access tokens get the vendor's error for that. The device
token (regId, openid) chooses the rest of the answer, as in push_apns_standin.js:
  gone…  the vendor's dead-token answer (HMS/Honor 80300007, OPPO 10000, vivo 10302, WeChat
         43101; Xiaomi accepts and reports type 16 to the callback)
  busy…  throttled the first time for that token (HMS/Honor HTTP 503, Xiaomi 10034, OPPO 33,
         vivo 10070, WeChat 45009), then accepted
  fail…  a server error the first time (HTTP 500; WeChat errcode -1), then accepted
  rej…   the message refused (HMS/Honor 80300008, Xiaomi/OPPO/vivo parameter errors, WeChat
         47003)
Every answer is one JSON line in --log: {t, vendor, token, status, code, request, headers}.
An outage is the test killing the process and starting it again on the same --port.

Usage: push_vendors_standin.py --port N --port-file F --log L [credentials, see below]
"""
import argparse
import hashlib
import json
import os
import secrets
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = {}
tokens = {}  # issued access token -> (vendor, expires at)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--huawei-app-id", default="hw-app-1")
    ap.add_argument("--huawei-secret", default="hw-secret")
    ap.add_argument("--honor-app-id", default="ho-app-1")
    ap.add_argument("--honor-client-id", default="ho-client")
    ap.add_argument("--honor-secret", default="ho-secret")
    ap.add_argument("--honor-receipt-url", default="")
    ap.add_argument("--xiaomi-secret", default="xm-secret")
    ap.add_argument("--xiaomi-package", default="cn.gov.city.app")
    ap.add_argument("--oppo-app-key", default="op-key")
    ap.add_argument("--oppo-master-secret", default="op-master")
    ap.add_argument("--vivo-app-id", default="10001")
    ap.add_argument("--vivo-app-key", default="vv-key")
    ap.add_argument("--vivo-app-secret", default="vv-secret")
    ap.add_argument("--wechat-appid", default="wxcitydtest0001")
    ap.add_argument("--wechat-secret", default="wx-secret")
    ap.add_argument("--wechat-template", default="TPL-task-1")
    args = ap.parse_args()

    def issue(vendor, ttl):
        tok = vendor + "-" + secrets.token_hex(12)
        with lock:
            tokens[tok] = (vendor, time.time() + ttl)
        return tok

    def token_ok(vendor, tok):
        with lock:
            v = tokens.get(tok)
        return v is not None and v[0] == vendor and v[1] > time.time()

    def behaviour(token):
        """'ok', 'gone', 'busy', 'fail' or 'rej' for this request to token."""
        with lock:
            n = seen.get(token, 0) + 1
            seen[token] = n
        if token.startswith("gone"):
            return "gone"
        if token.startswith("busy") and n == 1:
            return "busy"
        if token.startswith("fail") and n == 1:
            return "fail"
        if token.startswith("rej"):
            return "rej"
        return "ok"

    def callback(url, msg_id, param, typ, target):
        time.sleep(1)  # Xiaomi sends receipts in batches, about a second apart
        data = json.dumps({msg_id: {"param": param, "type": typ, "targets": target,
                                    "jobkey": "", "barStatus": "Enable",
                                    "timestamp": int(time.time() * 1000)}})
        body = urllib.parse.urlencode({"data": data}).encode()
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"),
                                   timeout=5).read()
        except Exception as e:  # the receipt is best effort, as Xiaomi's is
            log({"vendor": "xiaomi", "callback_error": str(e)})

    def post_json(url, obj, vendor):
        """A receipt as OPPO, vivo and Honor send them: JSON, a second after the send."""
        time.sleep(1)
        req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=5).read()
            log({"vendor": vendor, "receipt": obj})
        except Exception as e:  # receipts are best effort
            log({"vendor": vendor, "callback_error": str(e)})

    def receipt(url, obj, vendor):
        threading.Thread(target=post_json, args=(url, obj, vendor), daemon=True).start()

    def log(obj):
        obj["t"] = int(time.time() * 1000)
        with lock, open(args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, status, obj, vendor=None, token=None, code=None, request=None):
            body = json.dumps(obj, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if vendor:
                hs = {k.lower(): v for k, v in self.headers.items()
                      if k.lower() in ("timestamp", "content-type")}
                log({"vendor": vendor, "token": token, "status": status, "code": code,
                     "request": request, "headers": hs, "path": self.path.split("?")[0]})

        def body(self):
            n = int(self.headers.get("Content-Length", "0"))
            return self.rfile.read(n) if n else b""

        def form(self, raw):
            return {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}

        def bearer(self):
            a = self.headers.get("Authorization", "")
            return a[7:] if a.startswith("Bearer ") else ""

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
            if u.path == "/cgi-bin/token":
                if q.get("grant_type") != "client_credential" or q.get("appid") != args.wechat_appid:
                    return self.reply(200, {"errcode": 40013, "errmsg": "invalid appid"})
                if q.get("secret") != args.wechat_secret:
                    return self.reply(200, {"errcode": 40125, "errmsg": "invalid appsecret"})
                return self.reply(200, {"access_token": issue("wechat", 7200), "expires_in": 7200})
            self.reply(404, {"error": "no such path"})

        def do_POST(self):
            u = urllib.parse.urlparse(self.path)
            path = u.path
            raw = self.body()
            # ---- Huawei ------------------------------------------------------------------
            if path == "/oauth2/v3/token" or path == "/auth/token":
                vendor = "huawei" if path.startswith("/oauth2") else "honor"
                f = self.form(raw)
                cid = args.huawei_app_id if vendor == "huawei" else args.honor_client_id
                sec = args.huawei_secret if vendor == "huawei" else args.honor_secret
                if f.get("grant_type") != "client_credentials" or f.get("client_id") != cid \
                        or f.get("client_secret") != sec:
                    return self.reply(400, {"error": 1101, "error_description": "invalid client"})
                return self.reply(200, {"access_token": issue(vendor, 3600), "expires_in": 3600,
                                        "token_type": "Bearer"})
            if path == "/v1/%s/messages:send" % args.huawei_app_id:
                rid = secrets.token_hex(8)
                if not token_ok("huawei", self.bearer()):
                    return self.reply(401, {"code": "80200003", "msg": "OAuth token expired",
                                            "requestId": rid}, "huawei", None, "80200003")
                try:
                    req = json.loads(raw)
                    msg = req["message"]
                    toks = msg["token"]
                    and_ = msg["android"]
                    assert isinstance(toks, list) and 1 <= len(toks) <= 1000
                    assert and_["category"] in ("IM", "VOIP", "SUBSCRIPTION", "TRAVEL", "HEALTH",
                                                "WORK", "ACCOUNT", "EXPRESS", "FINANCE",
                                                "DEVICE_REMINDER", "MAIL", "MARKETING")
                    assert and_["notification"]["title"] and and_["notification"]["body"]
                except Exception:
                    return self.reply(400, {"code": "80100003", "msg": "Illegal payload",
                                            "requestId": rid}, "huawei", None, "80100003")
                tok = toks[0]
                b = behaviour(tok)
                if len(raw) > 4096 or b == "rej":
                    return self.reply(400, {"code": "80300008", "msg": "The message body size exceeds the default value",
                                            "requestId": rid}, "huawei", tok, "80300008", req)
                if b == "gone":
                    return self.reply(400, {"code": "80300007", "msg": "All the tokens are invalid",
                                            "requestId": rid}, "huawei", tok, "80300007", req)
                if b == "busy":
                    return self.reply(503, {"code": "80300010", "msg": "flow control", "requestId": rid},
                                      "huawei", tok, "503", req)
                if b == "fail":
                    return self.reply(500, {"code": "81000001", "msg": "System inner error",
                                            "requestId": rid}, "huawei", tok, "81000001", req)
                return self.reply(200, {"code": "80000000", "msg": "Success", "requestId": rid},
                                  "huawei", tok, "80000000", req)
            # ---- Honor -------------------------------------------------------------------
            if path == "/api/v1/%s/sendMessage" % args.honor_app_id:
                rid = secrets.token_hex(8)
                if not token_ok("honor", self.bearer()):
                    return self.reply(200, {"code": 80200003, "message": "token expired"}, "honor",
                                      None, 80200003)
                try:
                    ts = int(self.headers.get("timestamp", "0"))
                    assert abs(ts - time.time() * 1000) < 600000
                    req = json.loads(raw)
                    tok = req["token"][0]
                    assert req["android"]["notification"]["title"]
                except Exception:
                    return self.reply(200, {"code": 80100003, "message": "Illegal payload"}, "honor",
                                      None, 80100003)
                b = behaviour(tok)
                if b == "rej":
                    return self.reply(200, {"code": 80300008, "message": "message body too large"},
                                      "honor", tok, 80300008, req)
                if b == "gone":
                    return self.reply(200, {"code": 80300007, "message": "all the tokens are invalid"},
                                      "honor", tok, 80300007, req)
                if b == "busy":
                    return self.reply(503, {"code": 80300010, "message": "flow control"}, "honor",
                                      tok, 503, req)
                if b == "fail":
                    return self.reply(500, {"code": 81000001, "message": "internal error"}, "honor",
                                      tok, 81000001, req)
                self.reply(200, {"code": 200, "message": "success",
                                 "data": {"sendResult": True, "requestId": rid}},
                           "honor", tok, 200, req)
                if args.honor_receipt_url:
                    receipt(args.honor_receipt_url,
                            {"statuses": [{"biTag": req["android"].get("biTag", ""),
                                           "appid": args.honor_app_id, "token": tok, "status": 0,
                                           "timestamp": int(time.time() * 1000),
                                           "requestId": rid}]}, "honor")
                return None
            # ---- Xiaomi ------------------------------------------------------------------
            if path == "/v3/message/regid":
                if self.headers.get("Authorization") != "key=" + args.xiaomi_secret:
                    return self.reply(401, {"result": "error", "code": 21301, "reason": "认证失败"},
                                      "xiaomi", None, 21301)
                f = self.form(raw)
                tok = f.get("registration_id", "")
                if not tok or f.get("restricted_package_name") != args.xiaomi_package or \
                        not f.get("title") or not f.get("description") or f.get("pass_through") not in ("0", "1"):
                    return self.reply(400, {"result": "error", "code": 10017, "reason": "参数错误"},
                                      "xiaomi", tok, 10017, f)
                b = behaviour(tok)
                if b == "rej":
                    return self.reply(400, {"result": "error", "code": 10017, "reason": "参数错误"},
                                      "xiaomi", tok, 10017, f)
                if b == "busy":
                    return self.reply(200, {"result": "error", "code": 10034,
                                            "reason": "应用当日发送消息数量过多"}, "xiaomi", tok, 10034, f)
                if b == "fail":
                    return self.reply(500, {"result": "error", "code": -1, "reason": "服务器内部错误"},
                                      "xiaomi", tok, -1, f)
                mid = "slm" + secrets.token_hex(10)
                self.reply(200, {"result": "ok", "trace_id": "Xlm" + secrets.token_hex(8), "code": 0,
                                 "data": {"id": mid}, "description": "成功",
                                 "info": "Received push messages for 1 REGID"}, "xiaomi", tok, 0, f)
                cb = f.get("extra.callback")
                if cb:
                    typ = 16 if b == "gone" else 1
                    threading.Thread(target=callback, args=(cb, mid, f.get("extra.callback.param", ""),
                                                            typ, tok), daemon=True).start()
                return None
            # ---- OPPO --------------------------------------------------------------------
            if path == "/server/v1/auth":
                f = self.form(raw)
                want = hashlib.sha256((args.oppo_app_key + f.get("timestamp", "") +
                                       args.oppo_master_secret).encode()).hexdigest()
                if f.get("app_key") != args.oppo_app_key or f.get("sign") != want:
                    return self.reply(200, {"code": 14, "message": "Invalid Sign"})
                return self.reply(200, {"code": 0, "message": "Success",
                                        "data": {"auth_token": issue("oppo", 86400),
                                                 "create_time": int(time.time() * 1000)}})
            if path == "/server/v1/message/notification/unicast":
                if not token_ok("oppo", self.headers.get("auth_token", "")):
                    return self.reply(200, {"code": 11, "message": "Invalid AuthToken"}, "oppo", None, 11)
                try:
                    msg = json.loads(self.form(raw)["message"])
                    tok = msg["target_value"]
                    assert msg["target_type"] == 2 and msg["notification"]["title"]
                except Exception:
                    return self.reply(200, {"code": 28, "message": "Invalid Param"}, "oppo", None, 28)
                b = behaviour(tok)
                if b == "rej":
                    return self.reply(200, {"code": 28, "message": "Invalid Param"}, "oppo", tok, 28, msg)
                if b == "gone":
                    return self.reply(200, {"code": 10000, "message": "Invalid RegistrationId"},
                                      "oppo", tok, 10000, msg)
                if b == "busy":
                    return self.reply(200, {"code": 33, "message": "The number of messages exceeds the daily limit"},
                                      "oppo", tok, 33, msg)
                if b == "fail":
                    return self.reply(500, {"code": -2, "message": "Service Currently Unavailable"},
                                      "oppo", tok, -2, msg)
                mid = secrets.token_hex(12)
                self.reply(200, {"code": 0, "message": "Success", "data": {"messageId": mid}},
                           "oppo", tok, 0, msg)
                cb = msg["notification"].get("call_back_url")
                if cb:
                    receipt(cb, [{"messageId": mid, "appId": args.oppo_app_key, "taskId": mid,
                                  "registrationIds": tok,
                                  "eventTime": str(int(time.time() * 1000)),
                                  "param": msg["notification"].get("call_back_parameter", ""),
                                  "eventType": "push_arrive"}], "oppo")
                return None
            # ---- vivo --------------------------------------------------------------------
            if path == "/message/auth":
                try:
                    req = json.loads(raw)
                    want = hashlib.md5((args.vivo_app_id + args.vivo_app_key + str(req["timestamp"]) +
                                        args.vivo_app_secret).encode()).hexdigest()
                    ok = req["appId"] == args.vivo_app_id and req["sign"] == want
                except Exception:
                    ok = False
                if not ok:
                    return self.reply(200, {"result": 10002, "desc": "sign校验失败"})
                return self.reply(200, {"result": 0, "desc": "请求成功", "authToken": issue("vivo", 86400)})
            if path == "/message/send":
                if not token_ok("vivo", self.headers.get("authToken", "")):
                    return self.reply(200, {"result": 10000, "desc": "权限认证失败"}, "vivo", None, 10000)
                try:
                    req = json.loads(raw)
                    tok = req["regId"]
                    assert req["title"] and req["content"] and req["requestId"]
                    assert req["classification"] in (0, 1)
                except Exception:
                    return self.reply(200, {"result": 10055, "desc": "参数错误"}, "vivo", None, 10055)
                b = behaviour(tok)
                if b == "rej":
                    return self.reply(200, {"result": 10055, "desc": "参数错误"}, "vivo", tok, 10055, req)
                if b == "gone":
                    return self.reply(200, {"result": 10302, "desc": "regId不合法"}, "vivo", tok, 10302, req)
                if b == "busy":
                    return self.reply(200, {"result": 10070, "desc": "超过当日发送限额"}, "vivo", tok, 10070, req)
                if b == "fail":
                    return self.reply(500, {"result": 500, "desc": "服务器内部错误"}, "vivo", tok, 500, req)
                task = secrets.token_hex(10)
                self.reply(200, {"result": 0, "desc": "请求成功", "taskId": task}, "vivo", tok, 0, req)
                extra = req.get("extra") or {}
                if extra.get("callback"):
                    receipt(extra["callback"], {task: {"param": extra.get("callback.param", ""),
                                                       "targets": tok}}, "vivo")
                return None
            # ---- WeChat ------------------------------------------------------------------
            if path == "/cgi-bin/message/subscribe/send":
                q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
                if not token_ok("wechat", q.get("access_token", "")):
                    return self.reply(200, {"errcode": 40001, "errmsg": "invalid credential"},
                                      "wechat", None, 40001)
                try:
                    req = json.loads(raw)
                    tok = req["touser"]
                    assert req["template_id"] == args.wechat_template and req["data"]
                except Exception:
                    return self.reply(200, {"errcode": 47003, "errmsg": "argument invalid!"}, "wechat",
                                      None, 47003)
                b = behaviour(tok)
                if b == "rej":
                    return self.reply(200, {"errcode": 47003, "errmsg": "argument invalid! data.thing1.value invalid"},
                                      "wechat", tok, 47003, req)
                if b == "gone":
                    return self.reply(200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"},
                                      "wechat", tok, 43101, req)
                if b == "busy":
                    return self.reply(200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"},
                                      "wechat", tok, 45009, req)
                if b == "fail":
                    return self.reply(200, {"errcode": -1, "errmsg": "system error"}, "wechat", tok, -1, req)
                return self.reply(200, {"errcode": 0, "errmsg": "ok", "msgid": secrets.randbits(40)},
                                  "wechat", tok, 0, req)
            self.reply(404, {"error": "no such path"})

    class Server(ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = Server(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

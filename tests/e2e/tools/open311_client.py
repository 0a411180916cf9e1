#!/usr/bin/python3
"""An Open311 GeoReport v2 client written from the specification alone
(http://wiki.open311.org/GeoReport_v2/), for tests/e2e/open311_test.c. It knows nothing of cityd
beyond the endpoint, an API key, and one service code and location to report at.

It walks the spec's sequence in both formats (JSON, and XML parsed with xml.etree): the
Service Discovery document (when given) → GET services → GET a service definition → POST requests (form-encoded, api_key) → GET the
request → GET requests with each filter (service_request_id, service_code, start_date/end_date,
status) — and checks the spec's error contract: a list of {code, description} with 403 for a
missing or bad api_key, 404 for what does not exist, 400 for other bad requests.

Every check that fails is printed; the exit status is the number of failures (0 = all passed).
With --out F it writes {"created": [ids...], "checks": N} to F.

Usage: open311_client.py --base http://host:port/open311/v2 --api-key K --service-code C
                         --lat LAT --long LONG [--discovery http://host:port/open311/discovery]
                         [--out F]
"""
import argparse
import datetime
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code",
                  "description", "agency_responsible", "service_notice", "requested_datetime",
                  "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                  "lat", "long", "media_url"]
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords",
                  "group"]
ATTRIBUTE_FIELDS = ["variable", "code", "datatype", "required", "datatype_description", "order",
                    "description"]
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}

failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return cond


def call(base, method, path, params=None, form=None):
    """(status, content type, body bytes)."""
    url = base + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = None
    headers = {}
    if form is not None:
        data = urllib.parse.urlencode(form).encode("utf-8")
        headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def get_json(base, path, params=None, want=200):
    status, ctype, body = call(base, "GET", path, params)
    check(status == want, f"GET {path} {params}: status {status}, want {want}")
    check(ctype.startswith("application/json"), f"GET {path}: JSON content type, got {ctype}")
    return json.loads(body)


def get_xml(base, path, params=None, want=200):
    status, ctype, body = call(base, "GET", path, params)
    check(status == want, f"GET {path} {params}: status {status}, want {want}")
    check(ctype.startswith("text/xml"), f"GET {path}: text/xml content type, got {ctype}")
    check(body.lstrip().startswith(b"<?xml"), f"GET {path}: XML declaration first")
    return ET.fromstring(body)


def w3c_ok(s):
    """A W3C datetime that carries its timezone (the spec's must)."""
    if not isinstance(s, str) or "T" not in s:
        return False
    if not (s.endswith("Z") or (len(s) > 6 and s[-6] in "+-" and s[-3] == ":")):
        return False
    try:
        datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def check_error_json(status, ctype, body, want, what):
    check(status == want, f"{what}: status {status}, want {want}")
    try:
        errs = json.loads(body)
    except ValueError:
        return check(False, f"{what}: error body is not JSON: {body[:200]!r}")
    check(isinstance(errs, list) and len(errs) >= 1, f"{what}: errors are a non-empty list")
    for e in errs if isinstance(errs, list) else []:
        check(isinstance(e, dict) and "code" in e and "description" in e,
              f"{what}: each error has code and description: {e}")
        check(isinstance(e.get("description"), str) and e["description"] != "",
              f"{what}: description is a text")


def check_error_xml(status, body, want, what):
    check(status == want, f"{what}: status {status}, want {want}")
    root = ET.fromstring(body)
    check(root.tag == "errors", f"{what}: root element errors, got {root.tag}")
    errs = root.findall("error")
    check(len(errs) >= 1, f"{what}: at least one error element")
    for e in errs:
        check(e.findtext("code") not in (None, ""), f"{what}: error has a code")
        check(e.findtext("description") not in (None, ""), f"{what}: error has a description")


def discovery(url):
    """The Service Discovery document (wiki.open311.org/Service_Discovery) in both formats."""
    root = url.rsplit("/", 1)[0]
    name = url.rsplit("/", 1)[1]
    d = get_json(root, f"/{name}.json")
    for f in ("changeset", "contact", "key_service", "endpoints"):
        check(f in d and d[f] not in (None, ""), f"discovery has {f}")
    eps = [e for e in d.get("endpoints", [])
           if e.get("specification") == "http://wiki.open311.org/GeoReport_v2"]
    check(len(eps) >= 1, "discovery lists a GeoReport v2 endpoint")
    for e in eps:
        for f in ("specification", "url", "changeset", "type", "formats"):
            check(f in e, f"discovery endpoint has {f}")
        check(e.get("type") in ("production", "test"), "endpoint type production or test")
        check({"text/xml", "application/json"} <= set(e.get("formats", [])),
              "endpoint formats list text/xml and application/json")
        check(str(e.get("url", "")).endswith("/v2"), "endpoint url ends in /v2")
    x = get_xml(root, f"/{name}.xml")
    check(x.tag == "discovery", "discovery.xml: root discovery")
    check(x.findtext("changeset") == d.get("changeset"), "discovery.xml: same changeset")
    xe = x.findall("endpoints/endpoint")
    check(len(xe) == len(d.get("endpoints", [])), "discovery.xml: same endpoints")
    for e in xe:
        check(len(e.findall("formats/format")) >= 2, "discovery.xml: format elements")


def services(base, code):
    js = get_json(base, "/services.json")
    check(isinstance(js, list) and len(js) > 0, "services.json: a non-empty list")
    codes = set()
    for s in js:
        for f in SERVICE_FIELDS:
            check(f in s, f"services.json: service has {f}: {s}")
        check(s.get("type") in ("realtime", "batch", "blackbox"), f"service type: {s.get('type')}")
        check(isinstance(s.get("metadata"), bool), "service metadata is true or false")
        codes.add(s.get("service_code"))
    check(len(codes) == len(js), "service codes are unique")
    check(code in codes, f"services.json lists {code}")
    x = get_xml(base, "/services.xml")
    check(x.tag == "services", "services.xml: root services")
    xcodes = {s.findtext("service_code") for s in x.findall("service")}
    check(xcodes == codes, "services.xml lists the same codes as services.json")
    mine = [s for s in js if s.get("service_code") == code]
    return mine[0] if mine else {}


def definition(base, code, svc):
    if not svc.get("metadata"):
        return []
    d = get_json(base, f"/services/{urllib.parse.quote(code)}.json")
    check(d.get("service_code") == code, "service definition: its service_code")
    attrs = d.get("attributes")
    check(isinstance(attrs, list), "service definition: attributes list")
    orders = []
    for a in attrs or []:
        for f in ATTRIBUTE_FIELDS:
            check(f in a, f"attribute has {f}: {a}")
        check(a.get("datatype") in DATATYPES, f"attribute datatype: {a.get('datatype')}")
        if a.get("datatype") in ("singlevaluelist", "multivaluelist"):
            vals = a.get("values")
            check(isinstance(vals, list) and vals, "list attribute has values")
            for v in vals or []:
                check("key" in v and "name" in v, f"value has key and name: {v}")
        orders.append(a.get("order"))
    check(len(set(orders)) == len(orders), "attribute orders are unique")
    x = get_xml(base, f"/services/{urllib.parse.quote(code)}.xml")
    check(x.tag == "service_definition", "service definition XML root")
    check(x.findtext("service_code") == code, "service definition XML: service_code")
    xcodes = [a.findtext("code") for a in x.findall("attributes/attribute")]
    check(xcodes == [a.get("code") for a in attrs or []], "XML attributes match JSON")
    for a in x.findall("attributes/attribute"):
        if a.findtext("datatype") in ("singlevaluelist", "multivaluelist"):
            check(len(a.findall("values/value")) > 0, "XML list attribute has value elements")
    return attrs or []


def post_request(base, fmt, form, want=200):
    return call(base, "POST", f"/requests.{fmt}", form=form)


def check_request(r, what):
    for f in REQUEST_FIELDS:
        check(f in r, f"{what}: request has {f}")
    check(r.get("status") in ("open", "closed"), f"{what}: status open or closed")
    check(w3c_ok(r.get("requested_datetime")), f"{what}: requested_datetime W3C with timezone: "
          f"{r.get('requested_datetime')}")
    check(w3c_ok(r.get("updated_datetime")), f"{what}: updated_datetime W3C with timezone")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--service-code", required=True)
    ap.add_argument("--lat", type=float, required=True)
    ap.add_argument("--long", type=float, required=True)
    ap.add_argument("--discovery", help="URL of the discovery document, without .json/.xml")
    ap.add_argument("--out")
    a = ap.parse_args()
    base, code = a.base.rstrip("/"), a.service_code

    if a.discovery:
        discovery(a.discovery)

    svc = services(base, code)
    attrs = definition(base, code, svc)
    choices = {}
    for at in attrs:
        if at.get("datatype") == "singlevaluelist" and at.get("values"):
            choices[at["code"]] = at["values"][-1]["key"]
        elif at.get("required"):
            choices[at["code"]] = "1"

    created = []
    form = {"api_key": a.api_key, "service_code": code, "lat": str(a.lat), "long": str(a.long),
            "address_string": "人民路 100 号", "description": "Open311 客户端：路灯不亮 & <夜间>",
            "email": "reporter@example.org", "first_name": "San", "last_name": "Zhang"}
    for k, v in choices.items():
        form[f"attribute[{k}]"] = v

    # POST in JSON: realtime services answer a service_request_id, never with a token.
    status, ctype, body = post_request(base, "json", form)
    check(status == 200, f"POST requests.json: status {status}: {body[:300]!r}")
    js = json.loads(body) if status == 200 else [{}]
    check(isinstance(js, list) and len(js) == 1, "POST answer is a list of one request")
    rid = js[0].get("service_request_id")
    check(rid is not None, "POST answer has service_request_id")
    check(not (rid is not None and js[0].get("token")), "never both service_request_id and token")
    created.append(rid)

    # POST in XML.
    form2 = dict(form, description="XML 客户端：井盖缺失")
    status, ctype, body = post_request(base, "xml", form2)
    check(status == 200, f"POST requests.xml: status {status}: {body[:300]!r}")
    check(ctype.startswith("text/xml"), "POST requests.xml: text/xml")
    x = ET.fromstring(body)
    check(x.tag == "service_requests", "POST XML: root service_requests")
    rid2 = x.findtext("request/service_request_id")
    check(rid2 not in (None, ""), "POST XML: service_request_id")
    created.append(int(rid2) if rid2 and rid2.isdigit() else rid2)

    # GET one request, both forms.
    r = get_json(base, f"/requests/{rid}.json")
    check(isinstance(r, list) and len(r) == 1, "GET request: a list of one")
    r = r[0] if r else {}
    check_request(r, "GET request")
    check(str(r.get("service_request_id")) == str(rid), "GET request: its id")
    check(r.get("service_code") == code, "GET request: its service_code")
    check(r.get("description") == form["description"], "GET request: the description as sent")
    check(r.get("status") == "open", "a new request is open")
    check(abs(float(r.get("lat", 0)) - a.lat) < 1e-6 and abs(float(r.get("long", 0)) - a.long) < 1e-6,
          "GET request: lat/long as sent")
    x = get_xml(base, f"/requests/{rid}.xml")
    check(x.tag == "service_requests", "GET request XML: root")
    req = x.find("request")
    check(req is not None and req.findtext("service_request_id") == str(rid), "XML: its id")
    check(req is not None and req.findtext("description") == form["description"],
          "XML: description round-trips (escaping)")
    check(req is not None and all(req.find(f) is not None for f in REQUEST_FIELDS),
          "XML: every request field is an element")

    # GET requests: service_request_id overrides the rest.
    both = f"{created[0]},{created[1]}"
    lst = get_json(base, "/requests.json", {"service_request_id": both, "status": "closed"})
    check(sorted(str(q.get("service_request_id")) for q in lst) == sorted(map(str, created)),
          "service_request_id list (overriding status) returns both requests")
    now = datetime.datetime.now(datetime.timezone.utc)
    win = {"start_date": (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "end_date": (now + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    lst = get_json(base, "/requests.json", dict(win, service_code=code, status="open"))
    ids = {str(q.get("service_request_id")) for q in lst}
    check(set(map(str, created)) <= ids, "service_code + status=open + this hour finds both")
    for q in lst:
        check_request(q, "GET requests item")
        check(q.get("service_code") == code and q.get("status") == "open",
              "every item matches the filters")
    lst = get_json(base, "/requests.json", dict(win, service_code=code, status="closed"))
    check(not (set(map(str, created)) & {str(q.get("service_request_id")) for q in lst}),
          "status=closed does not list the new open requests")
    old = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-02-01T00:00:00+08:00"}
    lst = get_json(base, "/requests.json", old)
    check(lst == [], "a window in 2020 is empty")
    x = get_xml(base, "/requests.xml", dict(win, service_code=code))
    xids = {e.findtext("service_request_id") for e in x.findall("request")}
    check(set(map(str, created)) <= xids, "requests.xml lists them too")
    # Optional arguments: empty means absent.
    lst = get_json(base, "/requests.json", dict(win, status="", service_code=""))
    check(set(map(str, created)) <= {str(q.get("service_request_id")) for q in lst},
          "empty optional arguments are ignored")

    # Errors.
    nokey = {k: v for k, v in form.items() if k != "api_key"}
    s, ct, b = post_request(base, "json", nokey)
    check_error_json(s, ct, b, 403, "POST without api_key")
    s, ct, b = post_request(base, "json", dict(form, api_key="ck_notakey0000000000000000000000"))
    check_error_json(s, ct, b, 403, "POST with a bad api_key")
    s, ct, b = post_request(base, "xml", dict(form, api_key="wrong"))
    check_error_xml(s, b, 403, "POST XML with a bad api_key")
    s, ct, b = post_request(base, "json", dict(form, service_code="no-such-service"))
    check_error_json(s, ct, b, 404, "POST with an unknown service_code")
    nolat = {k: v for k, v in form.items() if k not in ("lat", "long")}
    s, ct, b = post_request(base, "json", nolat)
    check_error_json(s, ct, b, 400, "POST without a location")
    s, ct, b = call(base, "GET", "/requests/999999999.json")
    check_error_json(s, ct, b, 404, "GET an unknown request")
    s, ct, b = call(base, "GET", "/requests/999999999.xml")
    check_error_xml(s, b, 404, "GET an unknown request in XML")
    s, ct, b = call(base, "GET", "/services/no-such-service.json")
    check_error_json(s, ct, b, 404, "GET an unknown service definition")
    s, ct, b = call(base, "GET", "/requests.json", {"start_date": "yesterday"})
    check_error_json(s, ct, b, 400, "start_date that is not a W3C datetime")
    s, ct, b = call(base, "GET", "/requests.json", {"start_date": "2026-01-01T00:00:00"})
    check_error_json(s, ct, b, 400, "start_date without a timezone")
    s, ct, b = call(base, "GET", "/requests.json",
                    {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"})
    check_error_json(s, ct, b, 400, "a range longer than 90 days")
    s, ct, b = call(base, "GET", "/requests.json", {"status": "pending"})
    check_error_json(s, ct, b, 400, "status other than open/closed")
    s, ct, b = call(base, "GET", "/requests.xml", {"status": "pending"})
    check_error_xml(s, b, 400, "status other than open/closed, XML")

    if a.out:
        with open(a.out, "w") as f:
            json.dump({"created": created, "checks": checks}, f)
    print(f"open311 client: {checks} checks, {len(failures)} failed", file=sys.stderr)
    return min(len(failures), 100)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""tests/e2e/tools/prom_parse.py FILE: parse a /metrics answer with the Prometheus client's own
text-format parser (python3-prometheus-client) and print its samples as one JSON object,
{"name{k=v,...}": value} with the labels sorted. Exits 1, naming the problem, when the text does
not parse or breaks the conventions cityd promises (docs/deployment.md):
  - every family has HELP text and a known type;
  - counters' samples end in _total; histograms have cumulative buckets ending in +Inf whose
    last bucket equals _count;
  - no label that could carry unbounded values (user, user_id, id, ip, path, token, device)."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

FORBIDDEN = {"user", "user_id", "id", "ip", "path", "url", "token", "device", "device_id"}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    out = {}
    problems = []
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser's own error is the finding
        print("does not parse: %s" % e, file=sys.stderr)
        return 1
    if not families:
        problems.append("no metrics at all")
    for fam in families:
        if not fam.documentation:
            problems.append("%s: no HELP" % fam.name)
        if fam.type not in ("counter", "gauge", "histogram"):
            problems.append("%s: type %s" % (fam.name, fam.type))
        buckets = {}
        counts = {}
        for s in fam.samples:
            bad = FORBIDDEN.intersection(s.labels)
            if bad:
                problems.append("%s: unbounded label %s" % (s.name, sorted(bad)))
            if fam.type == "counter" and not s.name.endswith(("_total", "_created")):
                problems.append("%s: counter sample without _total" % s.name)
            key = s.name + "{" + ",".join(
                "%s=%s" % (k, v) for k, v in sorted(s.labels.items())) + "}"
            if key in out:
                problems.append("%s: duplicate sample" % key)
            out[key] = s.value
            if fam.type == "histogram":
                rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    buckets.setdefault(rest, []).append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    counts[rest] = s.value
        for rest, bs in buckets.items():
            values = [v for _, v in bs]
            if values != sorted(values) or not math.isinf(bs[-1][0]):
                problems.append("%s%s: buckets not cumulative or no +Inf" % (fam.name, rest))
            if counts.get(rest) != bs[-1][1]:
                problems.append("%s%s: _count != +Inf bucket" % (fam.name, rest))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, ensure_ascii=False, indent=0, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

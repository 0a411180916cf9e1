#!/usr/bin/python3
"""tests/lint/openapi_routes.py ROOT CITYD: lint.openapi_routes.

The route tables (api/*.c) are the truth of what cityd serves; openapi.yaml is the contract. Both
are read at test time: the tables through `CITYD routes` (METHOD, PATH, ROLES, BODY_LIMIT per
line; no database needed), the contract with PyYAML. The check fails when
  - a METHOD+PATH is in the tables but not in openapi.yaml, or the other way round (HEAD is
    implied by GET: cityd answers HEAD with the GET route, so a `head` operation documents the
    GET route and a HEAD table row would be dead);
  - an operation's x-roles is missing or differs, as a set, from the route's roles (`public`
    for a route without a token);
  - a public operation lacks `security: []`, or a non-public one has it (it would claim no token
    is needed), or a non-public one documents no 401 or no 403;
  - an operation documents a requestBody for a route that takes none (body limit 0: any body is
    413), or documents none for a route that takes one;
  - the ErrorCode enum of components/schemas differs from the wire codes of server/core/err.def.
Each problem is one line naming the method, the path and, for openapi.yaml, the line."""

import os
import re
import subprocess
import sys

METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        print("openapi_routes: PyYAML is missing: install Debian's python3-yaml "
              "(scripts/deps.sh) and run this with /usr/bin/python3")
        sys.exit(1)
    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys: YAML keeps the last one silently, which
        would hide an operation (two `/cases:` entries) from this check."""

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as e:
        print(f"openapi.yaml: not valid YAML: {e}")
        sys.exit(1)
    # Line of each path key, for messages (paths are the 2-space-indented keys under `paths:`).
    lines = {}
    in_paths = False
    for i, line in enumerate(text.split("\n"), 1):
        if re.match(r"^paths:\s*$", line):
            in_paths = True
            continue
        if in_paths and re.match(r"^\S", line):
            in_paths = False
        if in_paths:
            m = re.match(r"^  (['\"]?)(/[^'\"]*)\1:\s*$", line)
            if m:
                lines[m.group(2)] = i
    return doc, lines


def cityd_routes(cityd):
    if not os.access(cityd, os.X_OK):
        print(f"openapi_routes: {cityd} is not built (cmake --build build/dev --target cityd)")
        sys.exit(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYD_")}
    r = subprocess.run([cityd, "routes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env, timeout=60)
    if r.returncode != 0:
        print(f"openapi_routes: `{cityd} routes` failed ({r.returncode}): {r.stderr.strip()}")
        sys.exit(1)
    routes = {}
    for n, line in enumerate(r.stdout.splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 4 or not parts[3].isdigit():
            print(f"openapi_routes: `cityd routes` line {n} is not METHOD\\tPATH\\tROLES\\tLIMIT: "
                  f"{line!r}")
            sys.exit(1)
        method, path, roles, limit = parts
        key = ("GET" if method == "HEAD" else method, path)
        routes[key] = (set(roles.split(",")), int(limit), method)
    if not routes:
        print("openapi_routes: `cityd routes` printed no routes")
        sys.exit(1)
    return routes


def err_codes(root):
    with open(os.path.join(root, "server/core/err.def"), encoding="utf-8") as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    return [m.group(1) for m in re.finditer(r"\bERR\(\s*\w+\s*,\s*\d+\s*,\s*\"([^\"]+)\"\s*[,)]",
                                            text)]


def main(argv):
    if len(argv) != 3:
        print("usage: openapi_routes.py ROOT CITYD", file=sys.stderr)
        return 2
    root, cityd = argv[1], argv[2]
    doc, path_lines = load_yaml(os.path.join(root, "openapi.yaml"))
    routes = cityd_routes(cityd)
    problems = []

    def where(path):
        return f"openapi.yaml:{path_lines.get(path, 1)}"

    ops = {}
    paths = doc.get("paths") or {}
    if not isinstance(paths, dict):
        print("openapi.yaml: `paths` is not a mapping")
        return 1
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for m in METHODS:
            if m not in item:
                continue
            method = "GET" if m == "head" else m.upper()
            if (method, path) in ops and m == "head":
                continue  # documented by its get operation already
            ops[(method, path)] = (item[m] or {}, m.upper())

    for key in sorted(routes):
        if key not in ops:
            method, path = key
            problems.append(f"{method} {path}: in the route tables (cityd routes) but not in "
                            f"openapi.yaml")
    for key in sorted(ops):
        method, path = key
        if key not in routes:
            spelled = ops[key][1]
            problems.append(f"{where(path)}: {spelled} {path}: in openapi.yaml but in no route "
                            f"table (cityd routes)")
            continue
        op, spelled = ops[key]
        roles, limit, _ = routes[key]
        label = f"{where(path)}: {spelled} {path}"
        xr = op.get("x-roles")
        if not isinstance(xr, list) or not all(isinstance(r, str) for r in xr):
            problems.append(f"{label}: x-roles must be a list of role names; the route has "
                            f"[{', '.join(sorted(roles))}]")
        elif set(xr) != roles or len(xr) != len(set(xr)):
            problems.append(f"{label}: x-roles [{', '.join(xr)}] differs from the route's roles "
                            f"[{', '.join(sorted(roles))}]")
        public = roles == {"public"}
        security = op.get("security")
        if public and security != []:
            problems.append(f"{label}: public route: the operation needs `security: []`")
        if not public:
            if security == []:
                problems.append(f"{label}: the route needs a token but the operation says "
                                f"`security: []`")
            responses = {str(k) for k in (op.get("responses") or {})}
            for code in ("401", "403"):
                if code not in responses:
                    problems.append(f"{label}: the route needs a token: document response {code}")
        if limit == 0 and "requestBody" in op:
            problems.append(f"{label}: the route takes no body (limit 0) but the operation has a "
                            f"requestBody")
        if limit > 0 and "requestBody" not in op:
            problems.append(f"{label}: the route takes a body of up to {limit} bytes: document "
                            f"its requestBody")

    wire = err_codes(root)
    enum = (((doc.get("components") or {}).get("schemas") or {}).get("ErrorCode") or {}).get("enum")
    if not isinstance(enum, list):
        problems.append("openapi.yaml: components/schemas/ErrorCode has no enum")
    elif sorted(enum) != sorted(wire):
        missing = sorted(set(wire) - set(enum))
        extra = sorted(set(enum) - set(wire))
        problems.append(f"openapi.yaml: ErrorCode enum differs from server/core/err.def: missing "
                        f"[{', '.join(missing)}], not in err.def [{', '.join(extra)}]")

    for p in problems:
        print(p)
    if problems:
        print(f"openapi_routes: {len(problems)} problem(s) between openapi.yaml and the route "
              f"tables")
        return 1
    print(f"openapi_routes: {len(routes)} routes match openapi.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

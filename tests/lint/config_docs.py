#!/usr/bin/python3
"""tests/lint/config_docs.py ROOT [CITYD]: lint.config_docs.

The key table in server/core/cfg.c is the single list of configuration keys. This check fails when
docs/config.md or etc/cityd.conf.example disagree with it:
  - a key of the table has no row in docs/config.md, or a row documents a key the table lacks;
  - a row's type, default or bounds differ from the table;
  - etc/cityd.conf.example does not list every key exactly once, names an unknown key, or shows a
    commented-out key with another value than its default.

The table is read with a regular expression over its S(/I(/L(/B( rows; a line inside the table
that is not such a row, a comment or blank is reported rather than skipped, so a new row shape
cannot silently drop keys. When CITYD (the built binary) is given, the parsed names and defaults
are also fed back to the real parser (`cityd -c <all keys at their defaults> routes`), which
proves the regex read the same keys the code has, and the example file is loaded the same way."""

import os
import re
import subprocess
import sys
import tempfile

TYPES = {"S": "string", "I": "int", "L": "int64", "B": "bool"}
NAMED = {"INT_MAX": 2**31 - 1, "INT32_MAX": 2**31 - 1, "INT64_MAX": 2**63 - 1,
         "UINT16_MAX": 2**16 - 1}

ROW_RE = re.compile(r'^\s*([SILB])\(\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*"((?:[^"\\]|\\.)*)"\s*'
                    r'(?:,\s*([^,()]+?)\s*,\s*([^,()]+?)\s*)?\)\s*,\s*(?:/\*.*\*/\s*)?$')
EXAMPLE_RE = re.compile(r"^\s*(#\s*)?([a-z][a-z0-9_]*\.[a-z0-9_.]+)\s*=\s*(.*?)\s*$")
DOC_ROW_RE = re.compile(r"^\|\s*`([a-z][a-z0-9_]*\.[a-z0-9_.]+)`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|")


def number(expr):
    """Evaluate a bound such as 65535, -1, 1 << 20, 64 * 1024 or INT_MAX."""
    text = expr.strip()
    for name, value in NAMED.items():
        text = re.sub(r"\b%s\b" % name, str(value), text)
    text = re.sub(r"(?<=\d)[uUlL]+\b", "", text)
    if not re.fullmatch(r"[0-9\s()+\-*<>]+", text):
        raise ValueError(expr)
    return int(eval(text, {"__builtins__": {}}, {}))  # digits and operators only, checked above


def parse_table(root, problems):
    """Return {name: (type, default, bounds_text)} in table order."""
    path = "server/core/cfg.c"
    with open(os.path.join(root, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    with open(os.path.join(root, "server/core/cfg.h"), encoding="utf-8") as f:
        sizes = {m.group(1): int(m.group(2))
                 for m in re.finditer(r"\bchar\s+(\w+)\s*\[\s*(\d+)\s*\]\s*;", f.read())}
    start = next((i for i, l in enumerate(lines) if re.search(r"\bcfg_key\s+keys\s*\[\s*\]", l)),
                 None)
    if start is None:
        problems.append(f"{path}: cannot find the key table (struct cfg_key keys[])")
        return {}
    keys = {}
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if re.match(r"^\s*\}\s*;", line):
            break
        if re.match(r"^\s*($|/\*.*\*/\s*$|//)", line):
            continue
        m = ROW_RE.match(line)
        if not m:
            problems.append(f"{path}:{i + 1}: cannot parse this row of the key table; write it as "
                            f"S(\"name\", field, \"default\") or I/L(..., lo, hi) / B(...) on one "
                            f"line, or teach tests/lint/config_docs.py the new shape")
            continue
        kind, name, field, default, lo, hi = m.groups()
        if kind in "IL":
            try:
                bounds = f"{number(lo)}..{number(hi)}"
            except (ValueError, TypeError, SyntaxError):
                problems.append(f"{path}:{i + 1}: {name}: cannot evaluate the bounds {lo}, {hi}")
                continue
        elif kind == "S":
            if field not in sizes:
                problems.append(f"{path}:{i + 1}: {name}: no char {field}[N] in server/core/cfg.h")
                continue
            bounds = f"max {sizes[field] - 1} bytes"
        else:
            bounds = "true/false"
        if name in keys:
            problems.append(f"{path}:{i + 1}: {name}: listed twice")
        keys[name] = (TYPES[kind], default, bounds, i + 1)
    else:
        problems.append(f"{path}: the key table has no end (}};)")
    if not keys:
        problems.append(f"{path}: no keys found in the key table")
    return keys


def cell_value(cell):
    """First `backticked` token of a table cell; `""` stands for the empty string."""
    m = re.search(r"`([^`]*)`", cell)
    if not m:
        return None
    return "" if m.group(1) == '""' else m.group(1)


def check_docs(root, keys, problems):
    path = "docs/config.md"
    try:
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        problems.append(f"{path}: {e.strerror}")
        return
    seen = {}
    for i, line in enumerate(lines, 1):
        m = DOC_ROW_RE.match(line)
        if not m:
            continue
        name, typ, default, bounds = m.group(1), m.group(2).strip(), m.group(3), m.group(4)
        # The environment-variable examples table has a `CITYD_...` second column: not a key row.
        if "CITYD_" in typ:
            continue
        if name in seen:
            problems.append(f"{path}:{i}: {name}: documented twice (also line {seen[name]})")
            continue
        seen[name] = i
        if name not in keys:
            problems.append(f"{path}:{i}: {name}: documented but not in server/core/cfg.c")
            continue
        ktype, kdef, kbounds, kline = keys[name]
        if typ != ktype:
            problems.append(f"{path}:{i}: {name}: type is {ktype} (server/core/cfg.c:{kline}), "
                            f"docs say {typ}")
        dv = cell_value(default)
        if dv != kdef:
            problems.append(f"{path}:{i}: {name}: default is `{kdef or chr(34) * 2}` "
                            f"(server/core/cfg.c:{kline}), docs say {default.strip()}")
        if not bounds.strip().startswith(kbounds):
            problems.append(f"{path}:{i}: {name}: bounds are {kbounds} "
                            f"(server/core/cfg.c:{kline}), docs say {bounds.strip()}")
    for name, (_, _, _, kline) in keys.items():
        if name not in seen:
            problems.append(f"server/core/cfg.c:{kline}: {name}: not documented in {path} "
                            f"(add a row | `{name}` | type | default | bounds | meaning |)")


def unquote(v):
    return v[1:-1] if len(v) >= 2 and v[0] == '"' and v[-1] == '"' else v


def check_example(root, keys, problems):
    path = "etc/cityd.conf.example"
    try:
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        problems.append(f"{path}: {e.strerror}")
        return
    seen = {}
    for i, line in enumerate(lines, 1):
        m = EXAMPLE_RE.match(line)
        if not m:
            continue
        commented, name, value = m.group(1) is not None, m.group(2), unquote(m.group(3))
        if name not in keys:
            problems.append(f"{path}:{i}: {name}: unknown key (not in server/core/cfg.c)")
            continue
        if name in seen:
            problems.append(f"{path}:{i}: {name}: listed twice (also line {seen[name]})")
            continue
        seen[name] = i
        if commented and value != keys[name][1]:
            problems.append(f"{path}:{i}: {name}: shown as {value!r} but the default is "
                            f"{keys[name][1]!r} (server/core/cfg.c:{keys[name][3]})")
    for name, (_, _, _, kline) in keys.items():
        if name not in seen:
            problems.append(f"server/core/cfg.c:{kline}: {name}: missing from {path} "
                            f"(add `# {name} = <default>`)")


def check_with_binary(root, cityd, keys, problems):
    """Feed the parsed keys and defaults, then the example file, to the real parser."""
    if not os.access(cityd, os.X_OK):
        problems.append(f"{cityd}: not built (cmake --build build/dev --target cityd)")
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYD_")}
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        for name, (_, default, _, _) in keys.items():
            f.write(f'{name} = "{default}"\n')
        tmp = f.name
    try:
        for label, conf in (("the parsed table at its defaults", tmp),
                            ("etc/cityd.conf.example", os.path.join(root, "etc/cityd.conf.example"))):
            r = subprocess.run([cityd, "-c", conf, "routes"], env=env, cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               timeout=60)
            if r.returncode != 0:
                problems.append(f"cityd rejects {label}: {r.stderr.strip()}")
    finally:
        os.unlink(tmp)


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: config_docs.py ROOT [CITYD]", file=sys.stderr)
        return 2
    root = argv[1]
    problems = []
    keys = parse_table(root, problems)
    if keys:
        check_docs(root, keys, problems)
        check_example(root, keys, problems)
        if len(argv) == 3:
            check_with_binary(root, argv[2], keys, problems)
    for p in problems:
        print(p)
    if problems:
        print(f"config_docs: {len(problems)} problem(s); docs/config.md and "
              f"etc/cityd.conf.example must match server/core/cfg.c")
        return 1
    print(f"config_docs: {len(keys)} keys documented and listed in the example")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

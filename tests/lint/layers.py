#!/usr/bin/python3
"""tests/lint/layers.py ROOT: lint.layers, the layer table of STYLE.md enforced by includes.

CMake already keeps most upward includes from compiling (each library's include directories are
private to its owner); this check turns the rule into one readable line per violation instead of
a linker puzzle, and catches what the compiler cannot see (a symbol name, a status number).

For each layer (a set of folders) it lists forbidden #include targets (outside comments), and
forbidden symbols (outside comments and string literals). Arrows only point down:
api -> domain -> db/auth/media -> core; http sits between core/auth and api."""

import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import csource  # noqa: E402

H2O = (r"^h2o(\.h$|/)", "h2o")
H2O_EXCEPT_MEMORY = (r"^h2o(\.h$|/(?!memory\.h$))", "h2o (only h2o/memory.h, via core, is allowed)")
LWS = (r"^libwebsockets\.h$|^lws_", "libwebsockets")
JANSSON = (r"^jansson\.h$", "jansson")
MARIADB = (r"^(mysql\.h|mariadb/|mysql/|errmsg\.h|mysqld_error\.h|ma_)", "MariaDB Connector/C")
VIPS = (r"^vips/", "libvips")

# Our folders, matched against the repo-relative path of a resolved quoted include.
OURS_DB = (r"^server/db/", "server/db")
OURS_AUTH = (r"^server/auth/", "server/auth")
OURS_HTTP = (r"^server/http/", "server/http")
OURS_WS = (r"^server/ws/", "server/ws")
OURS_API = (r"^api/", "api/ (handlers and domain)")
OURS_HANDLERS = (r"^api/(?!domain/)", "api/ handlers (domain sits below them)")
OURS_MEDIA = (r"^media/", "media")
OURS_OUTSIDE_CORE = (r"^(?!server/core/)", "anything of ours outside server/core")

MYSQL_SYMS = (r"\b(MYSQL\w*|mysql_\w+|mariadb_\w+)\b", "MariaDB symbols (MYSQL*, mysql_*)")
STATUS_RETURN = (r"\breturn\s*\(?\s*[45]\d\d\s*\)?\s*;", "an HTTP status number returned")

# Each rule: (name, path regex selecting files, [system include patterns],
#             [our include patterns], [symbol patterns], why).
RULES = [
    ("api",
     r"^api/[^/]+\.[ch]$",
     [MARIADB, VIPS, H2O_EXCEPT_MEMORY, LWS],
     [OURS_DB],
     [MYSQL_SYMS,
      (r"\bvips_\w+|\bVips[A-Z]\w*", "libvips symbols"),
      (r"\bh2o_req_t\b", "h2o_req_t"),
      (r"\blws_\w+|\bstruct\s+lws\b", "libwebsockets symbols")],
     "api/ handlers decode, call the domain and encode: no SQL, no h2o, no lws, no vips"),
    ("domain",
     r"^api/domain/",
     [JANSSON, H2O, LWS],
     [OURS_HTTP, OURS_WS, OURS_HANDLERS],
     [MYSQL_SYMS, STATUS_RETURN,
      (r"\bjson_t\b|\bjson_\w+\s*\(", "jansson symbols"),
      (r"\bh2o_\w+|\blws_\w+", "h2o or libwebsockets symbols")],
     "domain is rules and SQL through server/db: no HTTP, no JSON, no MYSQL*, no ws"),
    ("core",
     r"^server/core/",
     [],
     [OURS_OUTSIDE_CORE],
     [],
     "server/core is the leaf: libc, pthread and h2o/memory.h only"),
    ("db",
     r"^server/db/",
     [H2O, JANSSON, LWS],
     [OURS_API, OURS_HTTP, OURS_WS],
     [],
     "server/db uses core and MariaDB only"),
    ("auth",
     r"^server/auth/",
     [H2O, LWS],
     [OURS_DB, OURS_HTTP, OURS_WS, OURS_API],
     [],
     "server/auth uses core, libjwt and libsodium: no database, no HTTP"),
    ("media",
     r"^media/",
     [H2O, LWS],
     [OURS_DB, OURS_API, OURS_HTTP, OURS_WS],
     [],
     "media uses core and libvips: no database, no api, no HTTP"),
    ("http",
     r"^server/(http|ws)/",
     [MARIADB],
     [OURS_DB, OURS_API],
     [],
     "server/http and server/ws use core, auth, h2o/lws and jansson: no database, no domain"),
]

DIRS = ["server", "api", "media"]


def main(argv):
    if len(argv) != 2:
        print("usage: layers.py ROOT", file=sys.stderr)
        return 2
    root = argv[1]
    problems = 0
    files = csource.sources(root, DIRS)
    for rel in files:
        rules = [r for r in RULES if re.search(r[1], rel)]
        if not rules:
            continue
        text = csource.read(root, rel)
        incs = list(csource.includes(root, rel, text))
        code = None
        for name, _, sys_pats, our_pats, sym_pats, why in rules:
            for line, spelled, resolved in incs:
                if resolved is None:
                    for pat, what in sys_pats:
                        if re.search(pat, spelled):
                            print(f"{rel}:{line}: layer {name}: includes <{spelled}> ({what}); "
                                  f"{why}")
                            problems += 1
                else:
                    for pat, what in our_pats:
                        if re.search(pat, resolved):
                            print(f"{rel}:{line}: layer {name}: includes \"{spelled}\" "
                                  f"({what}); {why}")
                            problems += 1
            if sym_pats:
                if code is None:
                    code = csource.blank(text)
                for pat, what in sym_pats:
                    for m in re.finditer(pat, code):
                        if csource.INCLUDE_RE.match(code, code.rfind("\n", 0, m.start()) + 1):
                            continue  # include lines were judged above
                        print(f"{rel}:{csource.line_of(code, m.start())}: layer {name}: uses "
                              f"{what} ('{m.group(0).strip()}'); {why}")
                        problems += 1
    if problems:
        print(f"layers: {problems} violation(s) of the layer table (STYLE.md, Module map)")
        return 1
    print(f"layers: {len(files)} files respect the layer table")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/python3
"""tests/lint/banned_functions.py ROOT: lint.banned_functions, STYLE.md habit 6 (curl's checksrc).

Fails, printing file:line for each, when C code under server/ api/ media/ tests/ bench/ calls one
of the banned functions (tests too: a test is code someone copies next). A call is the name as a whole word followed by '(' outside comments, string
and character literals, and not a member (`x.rand(`, `p->system(`).

Exception: tests/lib (the e2e harness) may call mysql_real_query and system. It drives SQL to set
up and inspect test data (a prepared-statement layer there would only re-implement server/db)
and runs shell commands to start and stop MariaDB and cityd. Nothing under tests/lib is linked
into cityd."""

import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import csource  # noqa: E402

DIRS = ["server", "api", "media", "tests", "bench"]

BANNED = {
    "sprintf": "use snprintf with the buffer size",
    "strcpy": "use memcpy with a checked length, or snprintf",
    "strcat": "use snprintf at an offset, or memcpy with a checked length",
    "strncpy": "use memcpy with a checked length, or snprintf (strncpy may not terminate)",
    "strtok": "use strtok_r or scan with memchr (strtok keeps hidden global state)",
    "atoi": "use strtol/strtoll and check errno, the end pointer and the range",
    "atol": "use strtol/strtoll and check errno, the end pointer and the range",
    "gets": "use fgets",
    "system": "use fork/exec or posix_spawn with an argument vector",
    "rand": "use ids_random (getrandom) or libsodium's randombytes_buf",
    "mysql_query": "use prepared statements (server/db: db_exec)",
    "mysql_real_query": "use prepared statements (server/db: db_exec)",
}

# Directory prefix -> names allowed there, and why (printed with --explain).
ALLOWED = {
    "tests/lib/": {"mysql_real_query", "system"},
}

CALL_RE = re.compile(r"(?<![\w.])(?<!->)\b(" + "|".join(sorted(BANNED)) + r")\s*\(")


def main(argv):
    if len(argv) != 2:
        print("usage: banned_functions.py ROOT", file=sys.stderr)
        return 2
    root = argv[1]
    problems = 0
    files = csource.sources(root, DIRS)
    for rel in files:
        allowed = set()
        for prefix, names in ALLOWED.items():
            if rel.startswith(prefix):
                allowed |= names
        code = csource.blank(csource.read(root, rel))
        for m in CALL_RE.finditer(code):
            name = m.group(1)
            if name in allowed:
                continue
            print(f"{rel}:{csource.line_of(code, m.start())}: banned function {name}(): "
                  f"{BANNED[name]}")
            problems += 1
    if problems:
        print(f"banned_functions: {problems} call(s) of banned functions (STYLE.md, Habits 6)")
        return 1
    print(f"banned_functions: {len(files)} files clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

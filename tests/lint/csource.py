"""tests/lint/csource.py: what the C lint checks share: finding sources, blanking comments and
literals, reading #include lines.

Blanking keeps every newline and every column, so a match in the blanked text has the line number
of the original. Nothing here understands the preprocessor beyond #include: the checks are greps
that know where comments and strings are, not a compiler."""

import os
import re

SKIP_DIRS = {"build", "node_modules", ".git"}


def sources(root, dirs, exts=(".c", ".h")):
    """Yield repo-relative paths of files ending in exts under each of dirs (sorted)."""
    out = []
    for d in dirs:
        top = os.path.join(root, d)
        if os.path.isfile(top):
            out.append(d)
            continue
        for base, subdirs, files in os.walk(top):
            subdirs[:] = sorted(s for s in subdirs if s not in SKIP_DIRS)
            for f in files:
                if f.endswith(exts):
                    out.append(os.path.relpath(os.path.join(base, f), root))
    return sorted(set(out))


def blank(text, strings=True):
    """Return text with comments (and, when strings, the contents of string and character
    literals) replaced by spaces, newlines kept."""
    out = list(text)
    i, n = 0, len(text)
    NORMAL, LINE, BLOCK, STR, CHR = range(5)
    state = NORMAL
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if state == NORMAL:
            if c == "/" and nxt == "/":
                state = LINE
                out[i] = out[i + 1] = " "
                i += 2
                continue
            if c == "/" and nxt == "*":
                state = BLOCK
                out[i] = out[i + 1] = " "
                i += 2
                continue
            if c == '"':
                state = STR
            elif c == "'":
                state = CHR
            i += 1
            continue
        if state == LINE:
            if c == "\\" and nxt == "\n":
                out[i] = " "
                i += 2
                continue
            if c == "\n":
                state = NORMAL
            else:
                out[i] = " "
            i += 1
            continue
        if state == BLOCK:
            if c == "*" and nxt == "/":
                out[i] = out[i + 1] = " "
                state = NORMAL
                i += 2
                continue
            if c != "\n":
                out[i] = " "
            i += 1
            continue
        # inside a string or character literal
        quote = '"' if state == STR else "'"
        if c == "\\" and i + 1 < n:
            if strings:
                out[i] = " "
                if nxt != "\n":
                    out[i + 1] = " "
            i += 2
            continue
        if c == quote or c == "\n":  # an unterminated literal ends at the line end
            state = NORMAL
        elif strings:
            out[i] = " "
        i += 1
    return "".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)


def includes(root, rel, text):
    """Yield (line, spelled, resolved) for each #include outside comments. resolved is the
    repo-relative path when the file is ours (found next to the including file or from the repo
    root, as -I<root> makes `"server/core/err.h"` work), else None."""
    code = blank(text, strings=False)
    here = os.path.dirname(rel)
    for m in INCLUDE_RE.finditer(code):
        spelled = m.group(2).strip()
        resolved = None
        candidates = [os.path.join(here, spelled), spelled] if m.group(1) == '"' else [spelled]
        for cand in candidates:
            cand = os.path.normpath(cand)
            if not cand.startswith("..") and os.path.isfile(os.path.join(root, cand)):
                resolved = cand
                break
        yield line_of(code, m.start()), spelled, resolved


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        return f.read()

#!/usr/bin/env bash
# The structure table of issue 42, measured on a tree, so a restructuring can
# say what it changed (before/after): src files over 450 non-test lines,
# functions over 80 lines, import circles, `pub` items and fields, lines that
# name the cluster or SQLite in the rooms or the sessions, the parsers of
# typed commands, and test files over 450 lines. Reads text only, no build,
# but for the circles, which come from tests/it/layers.rs (CIRCLES=0 skips it).
#   bash benches/structure.sh           # this tree
#   bash benches/structure.sh DIR       # another checkout, e.g. an old commit:
#   git archive 9b8d254 | tar -x -C /tmp/old && bash benches/structure.sh /tmp/old
# VERBOSE=1 lists every file, function and line counted.
# What counts as "test": a file's `#[cfg(test)] mod tests` and what follows it.
set -euo pipefail
ROOT=$(cd "${1:-$(dirname "$0")/..}" && pwd)
circles="(skipped)"
if [ "${CIRCLES:-1}" != 0 ]; then
  out=$(cd "$ROOT" && cargo test --quiet --test it layers::no_two_modules_import_each_other 2>&1 || true)
  if grep -q "test result: ok. 1 passed" <<<"$out"; then
    circles=0
  elif grep -q "modules that import each other" <<<"$out"; then
    circles=$(grep -c " <-> " <<<"$out" || true)
  else
    circles="(the layers test did not run)"
  fi
fi
CIRCLES_FOUND="$circles" python3 - "$ROOT" <<'PY'
import os, re, sys

root = sys.argv[1]
verbose = os.environ.get("VERBOSE") == "1"

def sources(exts):
    out = []
    for d, _, names in os.walk(os.path.join(root, "src")):
        out += [os.path.join(d, n) for n in names if n.endswith(exts)]
    return sorted(out)

def own_code(path):
    """A file's lines before its test module."""
    text = open(path, encoding="utf-8").read()
    return re.split(r"(?m)^#\[cfg\(test\)\]\s*\n(?:#\[[^\n]*\n)*\s*mod tests", text)[0].split("\n")

def rel(p):
    return os.path.relpath(p, root)

# Strings, chars and comments blanked, so that braces count right.
TOKEN = re.compile(r'''r(#*)".*?"\1|b?"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/|b?'(?:\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'(?!\w)''', re.S)

def blank(text):
    return TOKEN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)

FN = re.compile(r"(?m)^[ \t]*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")

def long_functions(path, lines):
    code = blank("\n".join(lines))
    out = []
    for m in FN.finditer(code):
        i, depth = m.end(), 0
        while i < len(code) and code[i] not in "{;":
            i += 1
        if i >= len(code) or code[i] == ";":
            continue
        start = code.count("\n", 0, m.start())
        while i < len(code):
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        n = code.count("\n", m.start(), i) + 1
        if n > 80:
            out.append((n, f"{rel(path)}:{start + 1} {m.group(1)}"))
    return out

ITEM = re.compile(r"^\s*pub\s+(?:async\s+|const\s+(?=fn)|unsafe\s+)*(fn|struct|enum|trait|type|const|static|mod|use|union)\b")
FIELD = re.compile(r"^\s*pub\s+(?!fn\b|struct\b|enum\b|trait\b|type\b|const\b|static\b|mod\b|use\b|async\b|unsafe\b)[a-z_][a-z0-9_]*\s*:")
# Code (not comments) that names the cluster or SQLite.
BACKEND = re.compile(r"cluster|Cluster|sqlite|Sqlite|SQLite|rusqlite")
# A parser of typed commands: a file that dispatches on three or more command
# words (`"nick" =>` arms, `cmd("NICK", …)` rows, the page's `nick(args) {`).
PARSE = [re.compile(r'"([a-z]+)"(?:\s*\|\s*"[a-z]+")*\s*(?:if\b[^=]*)?=>'),
         re.compile(r'cmd\("([A-Z]+)"'),
         re.compile(r"^\s*([a-z]+)\(args\)\s*\{", re.M)]

big, funcs, items, fields, backend, parsers = [], [], 0, 0, [], []
for path in sources(".rs"):
    lines = own_code(path)
    n = len(lines)
    if n > 450:
        big.append((n, rel(path)))
    funcs += long_functions(path, lines)
    items += sum(bool(ITEM.match(l)) for l in lines)
    fields += sum(bool(FIELD.match(l)) for l in lines)
    r = rel(path)
    if r.startswith(("src/server/room/", "src/server/session/")):
        code = blank("\n".join(lines)).split("\n")
        backend += [f"{r}:{i + 1}: {lines[i].strip()}" for i, l in enumerate(code) if BACKEND.search(l)]
for path in sources((".rs", ".js")):
    code = "\n".join(own_code(path)) if path.endswith(".rs") else open(path, encoding="utf-8").read()
    words = {m.group(1).lower() for p in PARSE for m in p.finditer(code)}
    # Words only a member (or an operator) types; a stream entry's kinds
    # (`"join" =>`, `"kick" =>` in cluster::entry) are not commands.
    known = {"help", "users", "switch", "rooms", "nick", "msg", "me", "history", "quit",
             "register", "privmsg", "names", "who", "reload", "motd"}
    if len(words & known) >= 3:
        parsers.append(rel(path))

tests = []
for d, _, names in os.walk(os.path.join(root, "tests")):
    for n in names:
        if n.endswith(".rs"):
            t = os.path.join(d, n)
            k = open(t, encoding="utf-8").read().count("\n")
            if k > 450:
                tests.append((k, rel(t)))

def row(name, value, detail):
    print(f"| {name} | {value} |")
    if verbose:
        for d in detail:
            print(f"|   {d} | |")

print(f"structure of {root}")
print("| measure | count |")
print("|---|---|")
row("src files over 450 non-test lines", len(big), [f"{p} {n}" for n, p in sorted(big, reverse=True)])
row("src functions over 80 lines", len(funcs), [f"{p} {n}" for n, p in sorted(funcs, reverse=True)])
row("import circles (tests/it/layers.rs)", os.environ.get("CIRCLES_FOUND", "?"), [])
row("`pub` items (not `pub(crate)`)", items, [])
row("`pub` fields", fields, [])
row("code lines naming the cluster or SQLite in server/room, server/session", len(backend), backend)
row("parsers of typed commands", len(parsers), parsers)
row("test files over 450 lines", len(tests), [f"{p} {n}" for n, p in sorted(tests, reverse=True)])
PY

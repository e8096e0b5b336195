#!/usr/bin/env python3
"""Print the registry's read and update queries, as `-- name: NAME` + SQL, for benches/eqp.

usage: queries.py src/registry/sqlite.rs

Section 1 is every SQL string literal in the registry module (outside its tests) that starts
with SELECT, UPDATE, DELETE or WITH, named after the `const` that holds it or the `fn` that
uses it: exactly what the binary runs, whatever the module's layout. Section 2 is the hot
queries as the performance issue words them, where that text differs from section 1.
"""

import re
import sys

ISSUE = [
    ("issue: approved batch",
     "SELECT * FROM drafts WHERE status = 'approved' ORDER BY created_at, draft_id LIMIT 10"),
    ("issue: counts by status", "SELECT status, count(*) FROM drafts GROUP BY status"),
    ("issue: oldest approved", "SELECT min(created_at) FROM drafts WHERE status = 'approved'"),
    ("issue: newest execute attempt",
     "SELECT attempt_id FROM attempts WHERE kind = 'execute' ORDER BY attempt_id DESC LIMIT 1"),
]

LITERAL = re.compile(r'r(#*)"(.*?)"\1|"((?:[^"\\]|\\.)*)"', re.S)


def unescape(body):
    body = re.sub(r"\\\n\s*", "", body)  # a `\` line continuation
    return (body.replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t")
            .replace("\\\\", "\\"))


def norm(sql):
    return " ".join(sql.replace("?1", "?").split()).rstrip(";")


def main():
    src = open(sys.argv[1]).read()
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", src)
    if cut:
        src = src[: cut.start()]
    # Skip comments so a doc comment's quote does not start a literal.
    src = re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), src)
    seen = set()
    for m in LITERAL.finditer(src):
        sql = m.group(2) if m.group(2) is not None else unescape(m.group(3))
        if not re.match(r"\s*(SELECT|UPDATE|DELETE|WITH)\b", sql):
            continue
        before = src[: m.start()]
        const = re.search(r"const\s+([A-Z_][A-Z0-9_]*)\s*:\s*&(?:'static\s+)?str\s*=\s*$", before)
        if const:
            name = "const " + const.group(1)
        else:
            fns = re.findall(r"\bfn\s+([a-z_][a-z0-9_]*)", before)
            name = "fn " + (fns[-1] if fns else "?")
        seen.add(norm(sql))
        print(f"-- name: {name} (src/registry/sqlite.rs)")
        print(sql.strip())
    for name, sql in ISSUE:
        if norm(sql) in seen:
            continue
        print(f"-- name: {name} (as worded in the issue)")
        print(sql)


if __name__ == "__main__":
    main()

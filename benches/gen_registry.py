#!/usr/bin/env python3
"""Create a registry in the reference's schema and fill it with N realistic, finished drafts.

usage: gen_registry.py SCHEMA_RS DB N

The schema is the reference's own (tables, indexes, `db_schema_version` = 1), read from
REFERENCE_MIGRATIONS in SCHEMA_RS (src/registry/schema.rs), so it follows the code: the
result is what a registry kept by the reference looks like before inbox-exec first opens it.
`inbox-exec init` on it then applies inbox-exec's own migrations (indexes over the whole
table: the "just migrated" case of the benchmarks). The mix looks like a registry that has
been in use for a couple of years:

  completed             ~86%  attempts: verify ok + execute ok
  completed_with_error   ~5%  attempts: verify ok + execute failed (or verify failed alone)
  expired                ~5%  no attempts
  cancelled              ~4%  no attempts
  executing              3 rows (a crash long ago, already known to reconcile): verify ok
  approved / pending     none: an idle `run` finds nothing to do

The rows are not signed with a real key (nothing verifies them in an idle run). Timestamps
run from two years ago up to one hour ago, so no attempt is inside the thermal window.
Deterministic: the same N gives the same rows.
"""

import os
import random
import re
import sqlite3
import sys
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(ms, rnd):
    n = (ms << 80) | rnd.getrandbits(80)
    out = []
    for _ in range(26):
        out.append(CROCKFORD[n & 31])
        n >>= 5
    return "".join(reversed(out))


def reference_ddl(schema_rs):
    """The SQL of REFERENCE_MIGRATIONS (one Rust string literal holding the whole script)."""
    src = open(schema_rs).read()
    m = re.search(r'const REFERENCE_MIGRATIONS: &\[&str\] = &\["(.*?)"\];', src, re.S)
    if not m:
        sys.exit(f"REFERENCE_MIGRATIONS not found in {schema_rs}")
    return m.group(1).replace('\\"', '"')


def main():
    schema_rs, db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rnd = random.Random(20240601 + n)
    now = int(time.time())
    start = now - 2 * 365 * 86400
    end = now - 3600
    step = (end - start) / max(n, 1)

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB while building the indexes
    conn.executescript(reference_ddl(schema_rs))
    conn.execute("INSERT OR REPLACE INTO db_meta (key, value) VALUES ('db_schema_version', '1')")
    have = conn.execute("SELECT count(*) FROM drafts").fetchone()[0]
    if have:
        sys.exit(f"{db} already holds {have} drafts")

    executing_at = set(rnd.sample(range(n), min(3, n))) if n else set()
    kinds = ["github_comment"] * 7 + ["ledger_done"] * 2 + ["social_post"]
    words = (
        "thanks for the report we have shipped a fix in the next release please "
        "confirm that the issue is resolved on your side closing this as done"
    ).split()

    drafts, attempts = [], []
    batch = 50_000
    conn.execute("BEGIN")
    for i in range(n):
        created = int(start + i * step)
        issued = created - rnd.randrange(0, 30)
        did = ulid(issued * 1000 + rnd.randrange(1000), rnd)
        kind = kinds[rnd.randrange(len(kinds))]
        if kind == "github_comment":
            target = '{"issue": %d, "repo": "octo-org/service-%d"}' % (
                rnd.randrange(1, 20000),
                rnd.randrange(40),
            )
            body = " ".join(rnd.choice(words) for _ in range(rnd.randrange(8, 40)))
            payload = '{"body": "%s"}' % body
        else:
            target = '{"ledger": "ops", "item": "LED-%d"}' % rnd.randrange(1, 99999)
            payload = '{"note": "%s"}' % " ".join(rnd.choice(words) for _ in range(6))
        content_hash = os.urandom(32).hex()
        signature = os.urandom(32).hex()
        led_ref = "LED-%d" % rnd.randrange(1, 99999) if rnd.random() < 0.3 else None
        r = rnd.random()
        url = error = None
        completed_at = None
        if i in executing_at:
            status, updated = "executing", created + 40
            attempts.append((did, "verify", "ok", None, None, updated))
        elif r < 0.86:
            status = "completed"
            updated = completed_at = created + rnd.randrange(30, 3000)
            if kind == "github_comment":
                url = "https://github.com/octo-org/demo/issues/%d#issuecomment-%d" % (
                    rnd.randrange(1, 20000),
                    rnd.randrange(10**9, 10**10),
                )
            else:
                url = "https://ledger.example.org/item/%d" % rnd.randrange(1, 99999)
            attempts.append((did, "verify", "ok", None, None, updated - 1))
            attempts.append((did, "execute", "ok", None, url, updated))
        elif r < 0.91:
            status = "completed_with_error"
            updated = completed_at = created + rnd.randrange(30, 3000)
            if rnd.random() < 0.5:
                error = "gh exited with status 1: error connecting to api.github.com"
                attempts.append((did, "verify", "ok", None, None, updated - 1))
                attempts.append((did, "execute", "failed", error, None, updated))
            else:
                reason = "ttl exceeded"
                error = "verify failed at execute time: " + reason
                attempts.append((did, "verify", "failed", reason, None, updated))
        elif r < 0.96:
            status, updated = "expired", created + 86400 + rnd.randrange(60, 3600)
            updated = min(updated, end)
        else:
            status, updated = "cancelled", created + rnd.randrange(60, 7200)
        drafts.append(
            (
                did, kind, target, payload, issued, 1, "v1", content_hash, signature,
                status, led_ref, None, url, error, created, updated, completed_at,
            )
        )
        if len(drafts) >= batch:
            flush(conn, drafts, attempts)
    flush(conn, drafts, attempts)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def flush(conn, drafts, attempts):
    conn.executemany(
        "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,"
        " key_version, schema_version, content_hash, signature, status, led_ref,"
        " approval_subject, executed_url, last_error, created_at, updated_at, completed_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        drafts,
    )
    conn.executemany(
        "INSERT INTO attempts (draft_id, kind, outcome, reason, executed_url, attempted_at)"
        " VALUES (?,?,?,?,?,?)",
        attempts,
    )
    drafts.clear()
    attempts.clear()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Run one cycle of the Python reference executor, as cron would start it: a fresh process,
a fresh in-memory ThermalState, the default batch of 10, the default alert hook.

usage: reference_run.py REFERENCE_DIR DB KEY

REFERENCE_DIR holds the reference's package `ai/` (ai/inbox_executor.py and
ai/inbox_drafts/); it is not part of this repository (see BENCHMARKS.md for where it comes
from). DB and KEY replace the reference's default paths (~/.delimit/drafts.db and
~/.delimit/secrets/inbox-executor-hmac.key) the way its own tests do: the module-level
defaults are read at call time. Its `github_comment` handler runs `gh` from PATH.
"""

import sys
from pathlib import Path


def main():
    ref, db, key = sys.argv[1:4]
    sys.path.insert(0, ref)
    import ai.inbox_drafts.registry as registry
    import ai.inbox_drafts.schema as schema
    from ai.inbox_executor import ThermalState, run_cycle

    registry.DEFAULT_DB_PATH = Path(db)
    schema.HMAC_KEY_PATH = Path(key)
    out = run_cycle(thermal=ThermalState())
    executed = sum(1 for r in out.get("results", []) if r.get("outcome") == "executed")
    print(f"{out['status']} processed={out['processed']} executed={executed}")


if __name__ == "__main__":
    main()

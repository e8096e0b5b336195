#!/usr/bin/env bash
# The PostgreSQL registry next to SQLite, one command:   bash benches/postgres.sh
#
# Measures, on each backend (SQLite file on the data disk; PostgreSQL over loopback TCP):
#   - an idle `run` (nothing approved): median wall time, process start to exit;
#   - a `run` dispatching 10 drafts through a stand-in handler (/bin/true): median wall time;
#   - claims per second: 600 approved drafts drained by 1 executor (`run --batch 100` until
#     none is left), then by 6 executors at once (distinct state directories, standing for
#     hosts, `run --batch 20` in a loop each). Every drained draft is one claim commit, one
#     dispatch and one outcome commit, so this is the queue's throughput, handler included.
# Prints a Markdown table. Nothing here is a test: it reports, it never fails on a number.
#
# Environment: CARGO_TARGET_DIR (honoured), BENCH_RUNS (timed runs, default 20),
# BENCH_DATA (work area on the disk to measure, default benches/.data),
# INBOX_EXEC_BENCH_POSTGRES (a server where the role may create databases; default
# postgres://postgres@127.0.0.1:5432/postgres). A database inbox_exec_bench_<pid> is created
# there and dropped at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
RUNS=${BENCH_RUNS:-20}
DATA=${BENCH_DATA:-$ROOT/benches/.data}
SERVER=${INBOX_EXEC_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
DBNAME=inbox_exec_bench_$$
PGURL=${SERVER%/*}/$DBNAME
say() { printf '\n=== %s\n' "$*" >&2; }
command -v hyperfine >/dev/null || { echo "hyperfine is required" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is required" >&2; exit 1; }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

say "building"
cargo build --release --locked >&2
BIN=$TARGET/release/inbox-exec

mkdir -p "$DATA"
WORK=$DATA/pgwork
rm -rf "$WORK"
mkdir -p "$WORK/home"
psql -q "$SERVER" -c "CREATE DATABASE $DBNAME" >/dev/null
cleanup() {
    rm -rf "$WORK"
    psql -q "$SERVER" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
export HOME=$WORK/home LC_ALL=C
for v in $(env | sed -n 's/^\(INBOX_EXEC_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export INBOX_EXEC_KEY=$WORK/hmac.key INBOX_EXEC_CONFIG=$WORK/config.toml
cat >"$INBOX_EXEC_CONFIG" <<EOF
[handlers.ledger_done]
command = ["/bin/true"]
[thermal]
max_actions = 1000000
EOF
chmod 600 "$INBOX_EXEC_CONFIG"
"$BIN" keygen >/dev/null

# A template registry of N approved drafts, signed once; each round gets a fresh copy.
template() { # template N FILE
    local db=$2
    INBOX_EXEC_DB=$db "$BIN" init >/dev/null
    for i in $(seq 1 "$1"); do
        id=$(INBOX_EXEC_DB=$db "$BIN" draft new --kind ledger_done --target '{"led":"LED-1"}' \
            --payload "{\"n\":$i}")
        INBOX_EXEC_DB=$db "$BIN" approve "$id" >/dev/null
    done
}
say "signing the template registries"
template 10 "$WORK/ten.db"
template 600 "$WORK/six-hundred.db"

# fresh BACKEND TEMPLATE: print a registry holding a copy of TEMPLATE on BACKEND.
fresh() {
    case $1 in
    sqlite)
        cp "$2" "$WORK/r.db"
        rm -f "$WORK/r.db-wal" "$WORK/r.db-shm"
        echo "$WORK/r.db"
        ;;
    postgres)
        psql -q "$PGURL" -c "DROP SCHEMA IF EXISTS inbox_exec CASCADE" >/dev/null 2>&1
        INBOX_EXEC_DB=$PGURL "$BIN" copy --from "$2" --to "$PGURL" >/dev/null
        echo "$PGURL"
        ;;
    esac
}

median_ms() { # median_ms JSON: hyperfine's median, in ms
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f" % (r["median"]*1000))' "$1"
}

drain() { # drain DB EXECUTORS BATCH: seconds to empty the queue
    local db=$1 n=$2 batch=$3 start end
    start=$(date +%s%N)
    for e in $(seq 1 "$n"); do
        (
            while INBOX_EXEC_DB=$db INBOX_EXEC_STATE_DIR=$WORK/host-$e "$BIN" run --json \
                --batch "$batch" 2>/dev/null | grep -q '"status": "ran"'; do :; done
        ) &
    done
    wait
    end=$(date +%s%N)
    python3 -c 'import sys; print("%.3f" % ((int(sys.argv[2]) - int(sys.argv[1])) / 1e9))' "$start" "$end"
}

printf '| measurement | SQLite | PostgreSQL (loopback) |\n| --- | ---: | ---: |\n' >"$WORK/table.md"
declare -A IDLE TEN ONE SIX
for backend in sqlite postgres; do
    say "$backend: idle run"
    db=$(fresh $backend "$WORK/ten.db")
    INBOX_EXEC_DB=$db INBOX_EXEC_STATE_DIR=$WORK/state "$BIN" run --batch 10 >/dev/null 2>&1
    INBOX_EXEC_DB=$db INBOX_EXEC_STATE_DIR=$WORK/state hyperfine -N -w 3 -r "$RUNS" \
        --export-json "$WORK/idle.json" "$BIN run" >/dev/null 2>&1
    IDLE[$backend]=$(median_ms "$WORK/idle.json")

    say "$backend: a run dispatching 10"
    : >"$WORK/ten.txt"
    for _ in $(seq 1 "$RUNS"); do
        db=$(fresh $backend "$WORK/ten.db")
        rm -rf "$WORK/state"
        start=$(date +%s%N)
        INBOX_EXEC_DB=$db INBOX_EXEC_STATE_DIR=$WORK/state "$BIN" run --batch 10 >/dev/null 2>&1
        end=$(date +%s%N)
        echo $(((end - start) / 1000)) >>"$WORK/ten.txt"
    done
    TEN[$backend]=$(python3 -c 'import statistics,sys; print("%.2f" % (statistics.median(int(l) for l in open(sys.argv[1])) / 1000))' "$WORK/ten.txt")

    say "$backend: 600 drafts, 1 executor"
    db=$(fresh $backend "$WORK/six-hundred.db")
    s=$(drain "$db" 1 100)
    ONE[$backend]=$(python3 -c "print('%.0f' % (600 / $s))")
    say "$backend: 600 drafts, 6 executors"
    db=$(fresh $backend "$WORK/six-hundred.db")
    s=$(drain "$db" 6 20)
    SIX[$backend]=$(python3 -c "print('%.0f' % (600 / $s))")
done
{
    echo "| idle \`run\` (median of $RUNS) | ${IDLE[sqlite]} ms | ${IDLE[postgres]} ms |"
    echo "| \`run\` dispatching 10 (median of $RUNS) | ${TEN[sqlite]} ms | ${TEN[postgres]} ms |"
    echo "| claims/s, 1 executor, 600 drafts | ${ONE[sqlite]} | ${ONE[postgres]} |"
    echo "| claims/s, 6 executors, 600 drafts | ${SIX[sqlite]} | ${SIX[postgres]} |"
} >>"$WORK/table.md"
cat "$WORK/table.md"
echo
echo "load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(nproc) CPUs; $(psql -tA "$SERVER" -c 'SHOW server_version') server"

#!/usr/bin/env bash
# inbox-exec benchmarks, one command:   bash benches/run.sh > bench.md
#
# Builds the release binary, generates (and caches) registries of 0, 100,000 and 1,000,000
# drafts in the reference's schema, and measures every row the performance issue asks for,
# printing a Markdown report (progress goes to stderr):
#   - the process floor: `inbox-exec --version` and an idle `run` side by side, in wall time
#     and in user-space instructions (callgrind, where valgrind is installed);
#   - an idle `run` (nothing approved) at each size, on a registry at rest and on one that
#     `inbox-exec init` has just migrated (its indexes built over the whole table), with the
#     Python reference's idle cycle next to it;
#   - `status` and `reconcile` at each size;
#   - 10 drafts dispatched through a stand-in `gh`, inbox-exec next to the reference, as a ratio;
#   - the batch cost at N = 1, 10, 100, 1,000 on the largest registry: wall time, fsyncs,
#     peak RSS;
#   - `verify` and `verify --all` on the largest registry: wall time, peak RSS;
#   - syscall counts (strace -f -c: fsync, fdatasync, pread64, openat, all) for each of these,
#     which do not depend on how busy the CPU is, and the whole syscall trace of an idle run;
#   - EXPLAIN QUERY PLAN of every registry query, through the SQLite inbox-exec bundles.
# Nothing here is a test: a missed target is reported, never failed on.
#
# Environment:
#   BENCH_DATA      cache of generated registries and the reference (default /var/tmp/inbox-bench;
#                   keep it on the disk you mean to measure: a tmpfs makes fsync free)
#   BENCH_SIZES     registry sizes (default "0 100000 1000000"; the largest is used for the
#                   batch, dispatch and verify rows)
#   BENCH_RUNS      timed runs per measurement (default 30)
#   BENCH_TIMING    0: skip every wall-clock timing (counts and RSS only; for a busy machine)
#   BENCH_REFERENCE the reference's package directory, holding ai/inbox_executor.py and
#                   ai/inbox_drafts/ (default $BENCH_DATA/reference); missing: reference rows
#                   are skipped
#   BENCH_QUIET_WAIT seconds to wait for an idle CPU before each timing (default 120)
#   BENCH_NICE      priority of the measured processes when run as root (default -10; 0 skips)
#   CARGO_TARGET_DIR honoured
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
RUNS=${BENCH_RUNS:-30}
DATA=${BENCH_DATA:-/var/tmp/inbox-bench}
SIZES=${BENCH_SIZES:-"0 100000 1000000"}
BIG=${SIZES##* }
TIMING=${BENCH_TIMING:-1}
REF=${BENCH_REFERENCE:-$DATA/reference}
if [ "$(id -u)" = 0 ] && [ "${BENCH_NICE:--10}" != 0 ]; then renice -n "${BENCH_NICE:--10}" -p $$ >/dev/null || true; fi

say() { printf '=== %s\n' "$*" >&2; }
RUSTC_VERSION=$(rustc --version 2>/dev/null || echo unknown) # before HOME moves
SQLITE_H=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*libsqlite3-sys-*/sqlite3/sqlite3.h' 2>/dev/null | sort | tail -1)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$SECONDS

# --- tools ------------------------------------------------------------------------------------
need() { # need COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing $2"
        apt-get install -y -qq "$2" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$2" >/dev/null 2>&1; } || true
    fi
    command -v "$1" >/dev/null 2>&1
}
need python3 python3 || { echo "python3 is required" >&2; exit 1; }
need strace strace || { echo "strace is required (apt-get install strace)" >&2; exit 1; }
need /usr/bin/time time || { echo "/usr/bin/time is required (apt-get install time)" >&2; exit 1; }
HAVE_HYPERFINE=1
need hyperfine hyperfine || { HAVE_HYPERFINE=0; say "hyperfine missing: timing with a shell loop"; }
HAVE_VALGRIND=1
need valgrind valgrind || { HAVE_VALGRIND=0; say "valgrind missing: no instruction counts"; }
HAVE_REF=0
[ -f "$REF/ai/inbox_executor.py" ] && [ -d "$REF/ai/inbox_drafts" ] && HAVE_REF=1
[ "$HAVE_REF" = 1 ] || say "no reference at $REF (BENCH_REFERENCE): reference rows skipped"

# --- build ------------------------------------------------------------------------------------
say "building (target dir $TARGET)"
cargo build --release --locked >&2
cargo build --release --locked --manifest-path benches/eqp/Cargo.toml --target-dir "$TARGET" >&2
BIN=$TARGET/release/inbox-exec
EQP=$TARGET/release/inbox-exec-bench-eqp
# The SQLite registry's SQL and schema, wherever the registry module keeps them (the
# PostgreSQL backend has a REFERENCE_MIGRATIONS of its own: not the one to generate from).
SCHEMA_RS=$(grep -rl --exclude-dir=postgres 'const REFERENCE_MIGRATIONS' src | sort | head -1)
QUERIES_RS=$(grep -rl --exclude-dir=postgres 'const BATCH_KEYS' src | sort | head -1)

# --- work area --------------------------------------------------------------------------------
mkdir -p "$DATA"
WORK=$DATA/work
rm -rf "$WORK"
mkdir -p "$WORK/home" "$WORK/xdg" "$WORK/bin"
trap 'rm -rf "$WORK"' EXIT
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/xdg LC_ALL=C
for v in $(env | sed -n 's/^\(INBOX_EXEC_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
KEY=$WORK/hmac.key
CONFIG=$WORK/config.toml
RESULTS=$WORK/results.tsv
: >"$RESULTS"

"$BIN" --key "$KEY" keygen >/dev/null
# Stand-in `gh`, for both executors: reads stdin (if any) with the shell's builtin, prints
# a comment URL. About 1.3 ms by itself.
cat >"$WORK/bin/gh" <<'EOF'
#!/bin/sh
while read -r _; do :; done
echo "https://github.com/octo-org/bench/issues/1#issuecomment-$$"
EOF
chmod 0755 "$WORK/bin/gh"
export PATH=$WORK/bin:$PATH
cat >"$CONFIG" <<EOF
[github]
gh = "$WORK/bin/gh"

[thermal]
max_actions = 100000
EOF
chmod 0600 "$CONFIG"

# The binary with every path explicit: IE DB STATE_DIR ARGS...
ie() { local db=$1 st=$2; shift 2; "$BIN" --config "$CONFIG" --db "$db" --key "$KEY" --state-dir "$st" "$@"; }

# make-approved DB STATE_DIR N: N github_comment drafts (a 300-character body), signed and
# approved with the CLI, as the drafting side would.
cat >"$WORK/make-approved" <<EOF
#!/bin/bash
set -euo pipefail
db=\$1 st=\$2 n=\$3
BODY=\$(printf 'benchmark draft %.0s' {1..19})
for ((i = 0; i < n; i++)); do
    id=\$("$BIN" --config "$CONFIG" --db "\$db" --key "$KEY" --state-dir "\$st" -q draft new \\
        --kind github_comment --target '{"repo": "octo-org/bench", "issue": 1}' \\
        --payload "{\\"body\\": \\"\$BODY \$i\\"}")
    "$BIN" --config "$CONFIG" --db "\$db" --key "$KEY" --state-dir "\$st" -q approve "\$id" >/dev/null
done
EOF
chmod 0755 "$WORK/make-approved"

# copy-db SRC DST: the database and its WAL, then flushed, so the copy's writeback does not
# land inside a measured fsync.
copy_db() {
    rm -f "$2" "$2-wal" "$2-shm"
    cp "$1" "$2"
    if [ -e "$1-wal" ]; then cp "$1-wal" "$2-wal"; fi
    sync "$2"
}
# wal_left DB: the WAL's size, and the frames it holds: what a new process reads while it
# rebuilds the WAL index, counted here as the frames after the header whose salts match it
# (a WAL restarted in place keeps older frames beyond them, under other salts).
wal_left() {
    python3 - "$1-wal" <<'PY'
import struct, sys
try:
    data = open(sys.argv[1], "rb").read()
except OSError:
    sys.exit(print("0 bytes"))
if len(data) < 32:
    sys.exit(print("%d bytes, no frames" % len(data)))
page, salts, frames, at = struct.unpack(">I", data[8:12])[0], data[16:24], 0, 32
while at + 24 + page <= len(data) and data[at + 8:at + 16] == salts:
    frames, at = frames + 1, at + 24 + page
print("%d bytes holding %d frame(s)" % (len(data), frames))
PY
}

# --- registries -------------------------------------------------------------------------------
# ref-N: the reference's schema, N drafts (what the reference's registry looks like when
# inbox-exec first opens it). cur-N: ref-N migrated by `inbox-exec init`, then checkpointed
# by python's sqlite3 (a registry at rest: current schema, empty WAL). A ref-N is kept while
# the generator and the reference's DDL stay the same (a migration of ours does not make the
# slow 1,000,000-draft one again); a cur-N while anything in the schema file does.
REF_STAMP=$( (cat benches/gen_registry.py; sed -n '/const REFERENCE_MIGRATIONS/,/^"\];/p' "$SCHEMA_RS") | sha256sum | cut -c1-12)
CUR_STAMP=$( (echo "$REF_STAMP"; cat "$SCHEMA_RS") | sha256sum | cut -c1-12)
registry() { # registry ref|cur N -> path
    local kind=$1 n=$2
    local path=$DATA/$kind-$n.db
    local stamp=$REF_STAMP
    [ "$kind" = ref ] || stamp=$CUR_STAMP
    if [ -e "$path" ] && [ "$(cat "$path.stamp" 2>/dev/null)" = "$stamp" ]; then
        echo "$path"
        return
    fi
    rm -f "$path" "$path".stamp "$path-wal" "$path-shm"
    local tmp=$DATA/gen-$kind-$n.db
    rm -f "$tmp" "$tmp-wal" "$tmp-shm"
    if [ "$kind" = ref ]; then
        say "generating a registry of $n drafts (reference schema)"
        local t0=$SECONDS
        python3 benches/gen_registry.py "$SCHEMA_RS" "$tmp" "$n"
        say "generated $n drafts in $((SECONDS - t0)) s"
    else
        cp "$(registry ref "$n")" "$tmp"
        ie "$tmp" "$WORK/st-gen" init >/dev/null
        python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()' "$tmp"
    fi
    rm -f "$tmp-wal" "$tmp-shm"
    mv "$tmp" "$path"
    echo "$stamp" >"$path.stamp"
    echo "$path"
}

# --- measuring --------------------------------------------------------------------------------
# result SECTION NAME VALUE TARGET VERDICT
result() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$RESULTS"; }

# quiet: wait (at most BENCH_QUIET_WAIT s) for an idle CPU; a timing taken on a machine that
# stayed busy is marked in the table.
quiet() {
    python3 benches/quiet.py "${BENCH_QUIET_WAIT:-120}" && return 0
    say "the machine stayed busy: measuring anyway"
    return 1
}

# timings RUNS WARMUP NAME PREPARE CMD [NAME PREPARE CMD ...]: each CMD is one string (no
# shell: split on spaces), PREPARE a shell command or "". Prints one line per command:
# "median-ms min-ms max-ms cpu-ms note". Commands given together are timed in one hyperfine
# call, side by side.
timings() {
    local runs=$1 warmup=$2
    shift 2
    if [ "$TIMING" = 0 ]; then
        while [ $# -gt 0 ]; do echo "- - - - [not timed]"; shift 3; done
        return
    fi
    local note=""
    quiet || note="[machine busy]"
    if [ "$HAVE_HYPERFINE" = 1 ]; then
        # Two statements: one `local` expands all its words before assigning any of them.
        local json=$WORK/hf.json
        local args=(-N --style basic --runs "$runs" --warmup "$warmup" --export-json "$json")
        local cmds=() any_prepare=0 a
        for ((a = 2; a <= $#; a += 3)); do [ -n "${!a}" ] && any_prepare=1; done
        while [ $# -gt 0 ]; do
            args+=(-n "$1")
            [ "$any_prepare" = 1 ] && args+=(--prepare "${2:-true}")
            cmds+=("$3")
            shift 3
        done
        hyperfine "${args[@]}" "${cmds[@]}" >&2
        python3 -c 'import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%.2f %.2f %.2f %.2f %s" % (r["median"] * 1e3, r["min"] * 1e3, r["max"] * 1e3,
          (r["user"] + r["system"]) * 1e3, sys.argv[2] or "-"))' "$json" "$note"
    else
        while [ $# -gt 0 ]; do
            local prepare=$2 cmd=$3 i t0 t1 times=()
            for ((i = 0; i < warmup + runs; i++)); do
                [ -n "$prepare" ] && bash -c "$prepare" >/dev/null 2>&1
                t0=$(date +%s%N)
                $cmd </dev/null >/dev/null 2>&1 || true
                t1=$(date +%s%N)
                ((i >= warmup)) && times+=($(((t1 - t0) / 1000)))
            done
            printf '%s\n' "${times[@]}" | python3 -c 'import statistics, sys
t = [int(x) / 1e3 for x in sys.stdin.read().split()]
print("%.2f %.2f %.2f - %s" % (statistics.median(t), min(t), max(t), sys.argv[1] or "-"))' "$note"
            shift 3
        done
    fi
}

# counts LABEL PREPARE -- CMD...: one run under `strace -f -c` (and /usr/bin/time -v, which
# strace does not trace into the measured numbers: it only adds its own openat calls, a
# constant 0 here since -e filters by name and time opens nothing after exec). Prints
# "fsync fdatasync pread64 openat all-syscalls peak-RSS-KiB".
counts() {
    local label=$1 prepare=$2
    shift 3
    [ -n "$prepare" ] && bash -c "$prepare" >/dev/null 2>&1
    strace -f -qq -c -o "$WORK/sc-$label.txt" \
        /usr/bin/time -v -o "$WORK/time-$label.txt" "$@" </dev/null >/dev/null 2>&1 || true
    local kib
    kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time-$label.txt")
    awk -v kib="${kib:-0}" '
        $NF == "fsync" {f = $4} $NF == "fdatasync" {d = $4} $NF == "pread64" {p = $4}
        $NF == "openat" {o = $4} $NF == "total" {t = $4}
        END {printf "%d %d %d %d %d %d\n", f, d, p, o, t, kib}' "$WORK/sc-$label.txt"
}

mib() { python3 -c 'import sys; print("%.1f" % (int(sys.argv[1]) / 1024))' "${1:-0}"; }
ratio() { python3 -c 'import sys
a, b = sys.argv[1], sys.argv[2]
print("-" if "-" in (a, b) else "%.2f" % (float(a) / float(b)))' "$1" "$2"; }
# verdict VALUE LIMIT -> pass|MISS (value <= limit passes); "-" for a value not measured
verdict() { python3 -c 'import sys
v, l = sys.argv[1], sys.argv[2]
print("-" if v == "-" else ("pass" if float(v) <= float(l) else "MISS"))' "$1" "$2"; }

# --- machine ----------------------------------------------------------------------------------
say "machine"
{
    echo "date:      $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "commit:    $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (src modified)')"
    echo "cpu:       $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) cores"
    echo "memory:    $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "disk:      $(df -T "$DATA" | awk 'NR==2 {print $2 " on " $1}') (for $DATA)"
    echo "kernel:    $(uname -sr)"
    echo "rustc:     $RUSTC_VERSION"
    echo "sqlite:    $(sed -n 's/^#define SQLITE_VERSION[[:space:]]*"\(.*\)"/\1/p' "$SQLITE_H" 2>/dev/null | head -1) (bundled)"
    echo "load:      $LOAD_START at the start (1/5/15-min averages)"
    echo "tools:     $(hyperfine --version 2>/dev/null || echo 'no hyperfine'), $(strace -V | head -1), $(python3 -V), $(valgrind --version 2>/dev/null || echo 'no valgrind')"
    echo "reference: $([ "$HAVE_REF" = 1 ] && echo "$REF" || echo "none")"
} >"$WORK/machine.txt"
cat "$WORK/machine.txt" >&2

for n in $SIZES; do registry cur "$n" >/dev/null; done

# --- process floor, side by side --------------------------------------------------------------
say "process floor"
FLOOR_DB=$WORK/floor.db
copy_db "$(registry cur 0)" "$FLOOR_DB"
ie "$FLOOR_DB" "$WORK/st-floor" run >/dev/null 2>&1 || true
ie "$FLOOR_DB" "$WORK/st-floor" run >/dev/null 2>&1 || true # the first left no idle mark (no -shm)
# The idle run as the timer starts it: the second run above left the idle mark, so these skip
# the registry. Next to it, the full idle cycle, the mark removed before each run (from a
# state directory of its own, so the other keeps its mark): what a run costs after a write.
ie "$FLOOR_DB" "$WORK/st-floor-full" run >/dev/null 2>&1 || true
{
    read -r v_med _ _ v_cpu _
    read -r i_med i_lo i_hi i_cpu note
    read -r f_med f_lo f_hi f_cpu _
} < <(timings "$RUNS" 5 version "" "$BIN --version" \
    idle-0 "" "$BIN --config $CONFIG --db $FLOOR_DB --key $KEY --state-dir $WORK/st-floor run" \
    idle-0-full "rm -f $WORK/st-floor-full/idle.json" \
    "$BIN --config $CONFIG --db $FLOOR_DB --key $KEY --state-dir $WORK/st-floor-full run")
result floor "\`inbox-exec --version\`" "$v_med ms (CPU $v_cpu)" "" ""
result floor "idle \`run\`, empty registry, same hyperfine call (min-max $i_lo-$i_hi) $note" "$i_med ms (CPU $i_cpu)" \
    "<= 1.3 x --version" "$(ratio "$i_med" "$v_med") x: $(verdict "$(ratio "$i_med" "$v_med")" 1.3)"
result floor "idle \`run\`, full cycle (no idle mark), same hyperfine call (min-max $f_lo-$f_hi)" "$f_med ms (CPU $f_cpu)" \
    "" "$(ratio "$f_med" "$v_med") x --version"
# The same two again, alternating run by run (benches/interleave.py): a second reading of
# the row, on which drift over the measurement cannot fall on one command only.
if [ "$TIMING" = 1 ]; then
    quiet || true
    read -r iv_v iv_i < <(python3 benches/interleave.py 300 "$BIN --version" \
        "$BIN --config $CONFIG --db $FLOOR_DB --key $KEY --state-dir $WORK/st-floor run")
    result floor "\`--version\`; idle \`run\`, alternating run by run (medians of 300 each)" "$iv_v; $iv_i ms" \
        "<= 1.3 x --version" "$(ratio "$iv_i" "$iv_v") x: $(verdict "$(ratio "$iv_i" "$iv_v")" 1.3)"
fi
strace -f -o "$WORK/trace-idle.txt" "$BIN" --config "$CONFIG" --db "$FLOOR_DB" --key "$KEY" --state-dir "$WORK/st-floor" run </dev/null >/dev/null 2>&1 || true
# The same two counted in user-space instructions (callgrind, valgrind's): within 0.01 % from
# run to run on any load, so a change to either path shows where wall time is noise. The
# kernel's side (every syscall, page fault and wait) is not in it. A failure is a "-".
if [ "$HAVE_VALGRIND" = 1 ]; then
    instructions() {
        { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" </dev/null 2>&1 >/dev/null || true; } |
            sed -n 's/.*Collected : //p'
    }
    v_ir=$(instructions "$BIN" --version)
    i_ir=$(instructions "$BIN" --config "$CONFIG" --db "$FLOOR_DB" --key "$KEY" --state-dir "$WORK/st-floor" run)
    rm -f "$WORK/st-floor-full/idle.json"
    f_ir=$(instructions "$BIN" --config "$CONFIG" --db "$FLOOR_DB" --key "$KEY" --state-dir "$WORK/st-floor-full" run)
    result floor "user-space instructions (callgrind): \`--version\`; idle \`run\`; full idle cycle, empty registry" \
        "${v_ir:--}; ${i_ir:--}; ${f_ir:--}" "" "idle = $(ratio "${i_ir:--}" "${v_ir:--}") x, full = $(ratio "${f_ir:--}" "${v_ir:--}") x --version"
fi

# --- idle runs, status, reconcile at each size ------------------------------------------------
ref_idle() { # ref_idle DB: the reference's idle cycle as a command string
    echo "python3 $ROOT/benches/reference_run.py $REF $1 $KEY"
}
for n in $SIZES; do
    say "idle run, status, reconcile: $n drafts"
    db=$WORK/cur-$n.db st=$WORK/st-$n
    copy_db "$(registry cur "$n")" "$db"
    ie "$db" "$st" run >/dev/null 2>&1 || true # state files exist from here on, as in production
    # A copied registry has no -shm, so the first run leaves no idle mark; the second does.
    ie "$db" "$st" run >/dev/null 2>&1 || true
    idle="$BIN --config $CONFIG --db $db --key $KEY --state-dir $st run"
    # With the idle mark the run above left, and the full cycle (the mark removed first).
    full="rm -f $st/idle.json"
    read -r f d p o t kib < <(counts "idle-$n" "" -- $idle)
    result "idle $n" "idle \`run\`, $n drafts at rest: syscalls" "fsync $f, fdatasync $d, pread64 $p, openat $o, all $t" "" ""
    result "idle $n" "idle \`run\`, $n drafts at rest: peak RSS" "$(mib "$kib") MiB" "< 8 MiB" "$(verdict "$kib" 8192)"
    read -r f d p o t kib < <(counts "idle-full-$n" "$full" -- $idle)
    result "idle $n" "full idle cycle, $n drafts at rest: syscalls; peak RSS" "fsync $f, fdatasync $d, pread64 $p, openat $o, all $t; $(mib "$kib") MiB" "< 8 MiB" "$(verdict "$kib" 8192)"
    if [ "$HAVE_REF" = 1 ]; then
        { read -r med lo hi cpu note; read -r fmed flo fhi fcpu _; read -r rmed _ _ rcpu _; } < <(timings "$RUNS" 3 \
            "idle-$n" "" "$idle" "idle-full-$n" "$full" "$idle" "ref-idle-$n" "" "$(ref_idle "$db")")
        result "idle $n" "idle \`run\`, $n drafts at rest (min-max $lo-$hi) $note" "$med ms (CPU $cpu)" "" ""
        result "idle $n" "full idle cycle, $n drafts at rest, same hyperfine call (min-max $flo-$fhi)" "$fmed ms (CPU $fcpu)" "" ""
        result "idle $n" "reference idle cycle, $n drafts, same hyperfine call" "$rmed ms (CPU $rcpu)" "" "inbox-exec $(ratio "$rmed" "$med") x faster; full cycle $(ratio "$rmed" "$fmed") x"
    else
        { read -r med lo hi cpu note; read -r fmed flo fhi fcpu _; } < <(timings "$RUNS" 3 \
            "idle-$n" "" "$idle" "idle-full-$n" "$full" "$idle")
        result "idle $n" "idle \`run\`, $n drafts at rest (min-max $lo-$hi) $note" "$med ms (CPU $cpu)" "" ""
        result "idle $n" "full idle cycle, $n drafts at rest, same hyperfine call (min-max $flo-$fhi)" "$fmed ms (CPU $fcpu)" "" ""
    fi

    # Just migrated: the reference's registry, first opened by `inbox-exec init`, which builds
    # inbox-exec's indexes over the whole table.
    mdb=$WORK/mig-$n.db mst=$WORK/st-mig-$n
    copy_db "$(registry ref "$n")" "$mdb"
    read -r f d p o t kib < <(counts "init-$n" "" -- "$BIN" --config "$CONFIG" --db "$mdb" --key "$KEY" --state-dir "$mst" init)
    result "idle $n" "\`init\` migrating $n drafts: syscalls; WAL left behind" "fsync $f, fdatasync $d; WAL $(wal_left "$mdb")" "" ""
    midle="$BIN --config $CONFIG --db $mdb --key $KEY --state-dir $mst run"
    read -r f d p o t kib < <(counts "mig-idle1-$n" "" -- $midle)
    result "idle $n" "first idle \`run\` after \`init\`, $n drafts: syscalls" "fsync $f, fdatasync $d, pread64 $p, openat $o, all $t" "" ""
    read -r f d p o t kib < <(counts "mig-idle2-$n" "" -- $midle)
    result "idle $n" "second idle \`run\` after \`init\`, $n drafts: syscalls; WAL" "fsync $f, fdatasync $d, pread64 $p, openat $o, all $t; WAL $(wal_left "$mdb")" "same as at rest" ""
    read -r med lo hi cpu note < <(timings "$RUNS" 3 "mig-idle-$n" "" "$midle")
    result "idle $n" "idle \`run\`, $n drafts just migrated (min-max $lo-$hi) $note" "$med ms (CPU $cpu)" "same as at rest" ""

    for cmd in status reconcile; do
        c="$BIN --config $CONFIG --db $db --key $KEY --state-dir $st $cmd"
        read -r f d p o t kib < <(counts "$cmd-$n" "" -- $c)
        read -r med lo hi cpu note < <(timings "$RUNS" 3 "$cmd-$n" "" "$c")
        result "idle $n" "\`$cmd\`, $n drafts (min-max $lo-$hi) $note" "$med ms (CPU $cpu); peak RSS $(mib "$kib") MiB; pread64 $p" "< 8 MiB" "$(verdict "$kib" 8192)"
    done
    [ "$n" = "$BIG" ] || rm -f "$mdb" "$mdb-wal" "$mdb-shm"
done

# --- 10 drafts dispatched, next to the reference ----------------------------------------------
say "10 drafts dispatched through a stand-in gh"
DRUNS=$((RUNS < 15 ? RUNS : 15))
d_db=$WORK/d10.db d_st=$WORK/st-d10 r_db=$WORK/d10-ref.db
copy_db "$(registry cur 0)" "$d_db"
copy_db "$(registry cur 0)" "$r_db"
ie "$d_db" "$d_st" run >/dev/null 2>&1 || true
d_run="$BIN --config $CONFIG --db $d_db --key $KEY --state-dir $d_st run"
if [ "$HAVE_REF" = 1 ]; then
    # With them, what no executor can avoid: the process itself (`--version`) and ten runs
    # of the stand-in (stdin empty: the body it is fed costs it a little more). The
    # reference over their sum is the most any executor could score on this machine.
    {
        read -r med lo hi cpu note
        read -r rmed rlo rhi rcpu _
        read -r gmed _ _ _ _
        read -r vmed _ _ _ _
    } < <(timings "$DRUNS" 2 \
        d10 "$WORK/make-approved $d_db $d_st 10" "$d_run" \
        ref-d10 "$WORK/make-approved $r_db $d_st 10" "$(ref_idle "$r_db")" \
        gh "" "$WORK/bin/gh" \
        version "" "$BIN --version")
    result d10 "10 dispatched, empty registry (min-max $lo-$hi) $note" "$med ms (CPU $cpu)" ">= 12 x the reference" \
        "$(ratio "$rmed" "$med") x faster: $(python3 -c 'import sys
a, b = sys.argv[1:3]
print("-" if "-" in (a, b) else ("pass" if float(a) / float(b) >= 12 else "MISS"))' "$rmed" "$med")"
    result d10 "reference: 10 dispatched, empty registry, same hyperfine call (min-max $rlo-$rhi)" "$rmed ms (CPU $rcpu)" "" ""
    floor10=$(python3 -c 'import sys
g, v = sys.argv[1:3]
print("-" if "-" in (g, v) else "%.2f" % (10 * float(g) + float(v)))' "$gmed" "$vmed")
    result d10 "ceiling: \`--version\` + 10 x the stand-in alone ($vmed + 10 x $gmed ms), same hyperfine call" "$floor10 ms" "" \
        "the reference is $(ratio "$rmed" "$floor10") x that: no executor can score more here; inbox-exec spends $(python3 -c 'import sys
m, f = sys.argv[1:3]
print("-" if "-" in (m, f) else "%.2f" % (float(m) - float(f)))' "$med" "$floor10") ms beyond it"
    fs=()
    for i in 1 2 3; do
        read -r f d _ _ _ _ < <(counts "ref-d10-$i" "$WORK/make-approved $r_db $d_st 10" -- python3 "$ROOT/benches/reference_run.py" "$REF" "$r_db" "$KEY")
        fs+=("$((f + d))")
    done
    result d10 "reference: fsync+fdatasync, 10 dispatched (3 runs)" "${fs[*]}" "" ""
else
    read -r med lo hi cpu note < <(timings "$DRUNS" 2 d10 "$WORK/make-approved $d_db $d_st 10" "$d_run")
    result d10 "10 dispatched, empty registry (min-max $lo-$hi) $note" "$med ms (CPU $cpu)" ">= 12 x the reference" "no reference"
fi
fs=()
for i in 1 2 3 4 5; do
    read -r f d _ _ _ kib < <(counts "d10-$i" "$WORK/make-approved $d_db $d_st 10" -- $d_run)
    fs+=("$((f + d))")
done
typical=$(printf '%s\n' "${fs[@]}" | sort -n | sed -n 3p)
result d10 "fsync+fdatasync, 10 dispatched, empty registry (5 runs: ${fs[*]})" "median $typical" "<= N+3 = 13" "$(verdict "$typical" 13)"
result d10 "peak RSS, 10 dispatched, empty registry" "$(mib "$kib") MiB" "< 8 MiB" "$(verdict "$kib" 8192)"

# --- batch cost at the largest size -----------------------------------------------------------
DB=$WORK/cur-$BIG.db
ST=$WORK/st-$BIG
BATCH_RUN="$BIN --config $CONFIG --db $DB --key $KEY --state-dir $ST run --batch"
for b in 1 10 100 1000; do
    say "batch of $b on $BIG drafts"
    t0=$SECONDS
    read -r f d p o t kib < <(counts "b$b" "$WORK/make-approved $DB $ST $b" -- $BATCH_RUN "$b")
    prep_s=$((SECONDS - t0))
    wal=$(wal_left "$DB")
    if [ "$b" -le 100 ]; then
        read -r med lo hi cpu note < <(timings $((b <= 10 ? 10 : 5)) 0 "b$b" "$WORK/make-approved $DB $ST $b" "$BATCH_RUN $b")
    elif [ "$TIMING" = 0 ]; then
        med=- lo=- hi=- cpu=- note="[not timed]"
    else
        "$WORK/make-approved" "$DB" "$ST" "$b"
        quiet && note="" || note="[machine busy]"
        t1=$(date +%s%N)
        $BATCH_RUN "$b" </dev/null >/dev/null 2>&1 || true
        med=$((($(date +%s%N) - t1) / 1000000)) lo=- hi=- cpu=-
    fi
    result batch "\`run --batch $b\`, $BIG drafts: wall (min-max $lo-$hi) $note" "$med ms" "" ""
    result batch "\`run --batch $b\`: fsync+fdatasync" "$((f + d))" "<= N+5 = $((b + 5))" "$(verdict "$((f + d))" "$((b + 5))")"
    result batch "\`run --batch $b\`: peak RSS; WAL after" "$(mib "$kib") MiB; WAL $wal" "< 8 MiB" "$(verdict "$kib" 8192)"
    say "(signing and approving $b drafts and the run took $prep_s s)"
done

# --- verify -----------------------------------------------------------------------------------
for v in "verify" "verify --all"; do
    say "$v on $BIG drafts"
    /usr/bin/time -f '%e %M' -o "$WORK/time-v.txt" \
        "$BIN" --config "$CONFIG" --db "$DB" --key "$KEY" --state-dir "$ST" $v >/dev/null 2>&1 || true
    read -r secs kib < <(tail -1 "$WORK/time-v.txt")
    result verify "\`$v\`, $BIG drafts: wall; peak RSS" "$secs s; $(mib "$kib") MiB" "<= 32 MiB" "$(verdict "$kib" 32768)"
done

# --- query plans ------------------------------------------------------------------------------
say "query plans ($BIG drafts)"
python3 benches/queries.py "$QUERIES_RS" | "$EQP" "$DB" >"$WORK/plans.txt"

# --- report -----------------------------------------------------------------------------------
echo "# inbox-exec benchmark run"
echo
echo '```'
cat "$WORK/machine.txt"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) at the end; the run took $((SECONDS - STARTED)) s"
echo '```'
echo
echo "Times: median wall time, process start to exit (hyperfine -N); CPU: mean user+system of"
echo "the process and its children. Syscall counts: one run under strace -f -c."
section=""
while IFS=$'\t' read -r sec name value target verdict; do
    if [ "$sec" != "$section" ]; then
        section=$sec
        echo
        echo "## $sec"
        echo
        echo "| measurement | value | target | verdict |"
        echo "| --- | --- | --- | --- |"
    fi
    echo "| $name | $value | $target | $verdict |"
done <"$RESULTS"
echo
echo "## fsync/fdatasync by file: the last 10-draft run"
echo
"$WORK/make-approved" "$d_db" "$d_st" 10
strace -f -y -qq -e trace=fsync,fdatasync -o "$WORK/fs-d10.txt" $d_run </dev/null >/dev/null 2>&1 || true
sed -nE 's/.*\b(fsync|fdatasync)\([0-9]+<([^>]*)>\).*/\1 \2/p' "$WORK/fs-d10.txt" |
    sed -E "s#$WORK/##; s#\.[0-9a-f]{6,}\.tmp#.*.tmp#" | sort | uniq -c | sort -rn | sed 's/^/    /'
echo
echo "## query plans ($BIG drafts)"
echo
sed 's/^/    /' "$WORK/plans.txt"
echo
echo "## every syscall of an idle run (empty registry, state files present)"
echo
sed -E "s#$WORK/##g" "$WORK/trace-idle.txt" | sed 's/^[0-9]* *//; s/^/    /'

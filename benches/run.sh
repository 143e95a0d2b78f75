#!/usr/bin/env bash
# Builds the benchmarks in release and runs them all, printing one results table.
# Needs only the Rust toolchain. Every whole-sync run starts its own server on
# 127.0.0.1 (a child process holding pre-rendered pages) and is a separate process,
# so each reports its own peak memory.
#
#   benches/run.sh                 # 3 runs of each contender, medians
#   REPS=5 RECORDS=200000 BIG=2000000 benches/run.sh
#   HEAP=1 benches/run.sh          # also item 4's peak heap under valgrind's massif
#                                  # (needs valgrind; ~20x slower: adds ~80 s)
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
HEAP=${HEAP:-0}
RECORDS=${RECORDS:-200000}
BIG=${BIG:-2000000}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
started=$(date +%s)

echo "== building (release)" >&2
cargo build --release --quiet -p connector-benches --bins
SYNC="$TARGET_DIR/release/sync"
MICRO="$TARGET_DIR/release/micro"

results=$(mktemp)
trap 'rm -f "$results"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
load_start=$(load)

run() { # contender style records [concurrency] [distinct pages]
    if ! "$SYNC" run "$@" >>"$results"; then
        echo "run failed: $*" >&2
        exit 1
    fi
}

for rep in $(seq "$REPS"); do
    echo "== round $rep/$REPS: whole syncs (load $(load))" >&2
    for style in next offset; do
        for c in floor floor-value sdk-items sdk-value sdk-dynamic sdk-dynamic-value sdk-derived-value sdk-typed \
                 floor+task sdk-dynamic+task sdk-typed+task; do
            run "$c" "$style" "$RECORDS" 1
        done
    done
    for conc in 4 8; do
        for c in floor floor-value sdk-items sdk-value sdk-dynamic sdk-dynamic-value sdk-typed \
                 floor+task sdk-dynamic+task sdk-typed+task; do
            run "$c" offset "$RECORDS" "$conc"
        done
    done
    # The import is paired with a floor run just before it (its ratio is per pair).
    run floor next "$RECORDS" 1
    run import-sqlite next "$RECORDS" 1
    run floor+task next "$RECORDS" 1
    run import-sqlite+task next "$RECORDS" 1
    run import-count next "$RECORDS" 1
    # The server holds 2,000 distinct pages and repeats them (ids repeat; the
    # counting sink does not care).
    run import-count next "$BIG" 1 2000
done

echo "== mapping and per-request overhead (load $(load))" >&2
"$MICRO" mapping >>"$results"
"$MICRO" overhead >>"$results"

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo 2>/dev/null)"
echo "load average (1/5/15 min): at start $load_start, at end $(load); $REPS runs per contender, medians"
echo
"$SYNC" report "$results"
if [ "$HEAP" = 1 ]; then
    # Item 4 again, by the allocator's count instead of the OS's: the peak of the
    # bytes the heap holds (requested + allocator overhead), read from massif's
    # snapshots. Resident memory also counts code, stacks and what the allocator
    # keeps mapped after frees; the heap is what could grow with the source.
    echo
    if command -v valgrind >/dev/null && command -v ms_print >/dev/null; then
        echo "== item 4 under massif (load $(load))" >&2
        heap_peak() { # records [distinct pages]
            local out
            out=$(mktemp)
            valgrind --tool=massif --massif-out-file="$out" \
                "$SYNC" run import-count next "$@" >/dev/null 2>&1
            awk -F= '/^mem_heap_B=/ {u=$2} /^mem_heap_extra_B=/ {t=u+$2; if (t>m) m=t}
                     END {printf "%.2f", m/1e6}' "$out"
            rm -f "$out"
        }
        small=$(heap_peak "$RECORDS")
        large=$(heap_peak "$BIG" 2000)
        echo "item 4, peak heap under massif (one run each): $RECORDS records $small MB, $BIG records $large MB ($(awk -v a="$small" -v b="$large" 'BEGIN {printf "%+.1f%%", (b/a-1)*100}'))"
    else
        echo "item 4 under massif: skipped, valgrind is not installed"
    fi
fi
echo
echo "run.sh took $(( $(date +%s) - started )) s"

#!/usr/bin/env bash
# Replay throughput (issue 6): a topic of EVENTS gateway-like records (512-byte JSON, keyed,
# with Tributary's headers) copied topic-to-topic on one Tansu broker, by Tributary's replay
# engine (plan + run into a TopicSink, MemoryCheckpoints) and by a bare rdkafka
# consume→produce loop (the floor). Every copy is verified (high watermarks and a full scan:
# each event exactly once, in order, with the replay header) before its figure counts.
# Starts Tansu (memory:// storage, as TESTBED.md advises for throughput) on 127.0.0.1, stops it
# on exit, and prints one JSON line per run (also saved under bench/out/).
#   bench/replay.sh [EVENTS]        (default 1000000)
# Knobs (environment): REPLAY_ROUNDS (1; each round runs both systems, alternating the order;
# the summary holds the target to the median of the rounds' tributary/floor ratios),
# REPLAY_PARTITIONS (3), REPLAY_LINGER_MS (1, Tributary's default), REPLAY_STORAGE (memory or
# sqlite), REPLAY_ARGS (more flags for `tributary-bench replay`, e.g. `--systems floor` or the
# diagnostic `--fill-batch-records 500 --fill-linger-ms 100`), CARGO_TARGET_DIR (where the
# release build goes; default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/services.sh
events=${1:-1000000}
ensure_tansu
cargo build --release -q -p tributary-bench
bin=${CARGO_TARGET_DIR:-target}/release/tributary-bench

work=$(mktemp -d /tmp/tributary-bench.XXXXXX)
mkdir -p bench/out
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/out/replay-$stamp.jsonl
# The broker's log is kept next to the results: Tansu's oddities show there first.
trap 'cp "$work/tansu/tansu.log" "bench/out/replay-$stamp-tansu.log" 2>/dev/null || true; stop_services; rm -rf "$work"' EXIT

start_tansu "$work/tansu" "${REPLAY_STORAGE:-memory}"
broker_pid=${_started_pids[-1]}
# shellcheck disable=SC2086 # REPLAY_ARGS is split into flags on purpose
"$bin" replay --events "$events" --bootstrap "$TRIBUTARY_TEST_KAFKA" --broker-pid "$broker_pid" \
  --rounds "${REPLAY_ROUNDS:-1}" --partitions "${REPLAY_PARTITIONS:-3}" \
  --linger-ms "${REPLAY_LINGER_MS:-1}" ${REPLAY_ARGS:-} | tee -a "$out"
echo "results: $out" >&2

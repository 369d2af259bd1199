#!/usr/bin/env bash
# Durable append throughput: 512-byte records in batches of 100, for the embedded log, for
# Tributary's Kafka backend on Tansu, and for a bare rdkafka producer on the same broker (the
# floor). Starts Tansu (memory:// storage, as TESTBED.md advises for throughput) on 127.0.0.1,
# stops it on exit, and prints one JSON line per run (also saved under bench/out/).
#   bench/eventlog-append.sh [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/services.sh
records=${1:-1000000}
ensure_tansu
cargo build --release -q -p tributary-bench
bin=target/release/tributary-bench

work=$(mktemp -d /tmp/tributary-bench.XXXXXX)
trap 'stop_services; rm -rf "$work"' EXIT
mkdir -p bench/out
out=bench/out/eventlog-append-$(date -u +%Y%m%dT%H%M%SZ).jsonl

run() { "$bin" eventlog-append --records "$records" --batch 100 --size 512 "$@" | tee -a "$out"; }

# The embedded log writes into a directory on the same disk as the data directory would be.
for c in 1 8 32; do
  run --backend embedded --concurrency "$c" --dir "$work/embedded-$c"
done

start_tansu "$work/tansu" memory
for c in 8 32 64; do
  run --backend rdkafka --concurrency "$c" --bootstrap "$TRIBUTARY_TEST_KAFKA"
  run --backend kafka --concurrency "$c" --bootstrap "$TRIBUTARY_TEST_KAFKA"
done
echo "results: $out" >&2

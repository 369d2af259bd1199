#!/usr/bin/env bash
# Registry costs: cached validator lookup by id, JSON Schema validation and Avro decode of a
# typical 20-field event (ns), and registration latency on SQLite and on PostgreSQL (started
# here on 127.0.0.1 and stopped on exit). Prints JSON lines, also saved under bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/services.sh
ensure_packages
cargo build --release -q -p tributary-bench
work=$(mktemp -d /tmp/tributary-bench.XXXXXX)
chmod 755 "$work"
trap 'stop_services; rm -rf "$work"' EXIT
start_postgres "$work/postgres"
mkdir -p bench/out
out=bench/out/registry-$(date -u +%Y%m%dT%H%M%SZ).jsonl
target/release/tributary-bench registry --postgres "$TRIBUTARY_TEST_DATABASE_URL" | tee -a "$out"
echo "results: $out" >&2

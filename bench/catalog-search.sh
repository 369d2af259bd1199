#!/usr/bin/env bash
# Catalog search: an in-memory index of 10,000 generated event types with 20 fields each
# (200,000 fields), 2,000 mixed queries (exact names, prefixes, typos, several words) timed
# one by one, and the time from upsert to searchable over 100 upserts under the index's own
# commit policy. Extra arguments go to `tributary-bench catalog-search` (e.g. --dir DIR for an
# on-disk index). Prints JSON lines, also saved under bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p tributary-bench
mkdir -p bench/out
out=bench/out/catalog-search-$(date -u +%Y%m%dT%H%M%SZ).jsonl
"${CARGO_TARGET_DIR:-target}/release/tributary-bench" catalog-search "$@" | tee -a "$out"
echo "results: $out" >&2

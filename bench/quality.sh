#!/usr/bin/env bash
# What quality scoring costs the gateway (issue: quality), one command:
#   bench/quality.sh
# The gateway benchmark's workload (bench/gateway.sh: the same 512-byte order events, batches of
# 100, JSON Schema validation, durable Kafka appends to one Tansu broker on memory://) against
# three `tributary serve` processes started side by side, each with its own event type:
#   off     [quality] scoring = false: no score, no history
#   scored  scoring as shipped: every event scored (validity, completeness), no rules
#   rules   scoring with five typical rules on the type (bench/quality/rules.json: required,
#           range, enum, pattern, freshness on a field)
# Closed-loop batch runs of GATEWAY_SECONDS (8) at 16 connections, ROUNDS (3) rounds with the
# three servers taken in turn, so drift on a shared machine hits all three alike. Prints accepted
# events per server CPU-second for each run, the medians, and the cost of scoring and of the
# rules relative to `off`; then, with perf installed, the share of the `rules` server's CPU
# spent in quality code under the same load. JSON lines go to bench/out/quality-*.jsonl.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/services.sh

seconds=${GATEWAY_SECONDS:-8}
warmup=${GATEWAY_WARMUP:-2}
rounds=${ROUNDS:-3}
connections=${CONNECTIONS:-16}
schema=bench/gateway/order-placed.schema.json
rules=bench/quality/rules.json
log() { echo "quality-bench: $*" >&2; }

ensure_tansu
log "building release binaries"
cargo build --release -q -p tributary -p tributary-bench
bin=target/release/tributary-bench

mkdir -p bench/out
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/out/quality-$stamp.jsonl
work=$(mktemp -d /tmp/tributary-quality-bench.XXXXXX)
declare -A pids urls
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_services
  rm -rf "$work"
}
trap cleanup EXIT
trap 'log "failed: line $LINENO exited with status $?"' ERR

start_tansu "$work/tansu" memory
broker_pid=${_started_pids[-1]}

for variant in off scored rules; do
  port=$(free_port)
  scoring=true
  [ "$variant" = off ] && scoring=false
  TRIBUTARY_QUALITY__SCORING=$scoring target/release/tributary serve --kafka "$TRIBUTARY_TEST_KAFKA" \
    --data-dir "$work/$variant" --listen "127.0.0.1:$port" >"$work/$variant.log" 2>&1 &
  pids[$variant]=$!
  wait_for_port "$port" 60
  url=http://127.0.0.1:$port
  name=bench.quality_$variant
  curl -fsS -o /dev/null -X POST "$url/v1/event-types" -H 'content-type: application/json' \
    -d "{\"name\": \"$name\", \"owner\": \"bench\", \"partitions\": 3}"
  jq -n --rawfile s "$schema" '{schema_type: "JSON", schema: $s}' |
    curl -fsS -o /dev/null -X POST "$url/v1/event-types/$name/schemas" \
      -H 'content-type: application/json' --data-binary @-
  if [ "$variant" = rules ]; then
    curl -fsS -o /dev/null -X PUT "$url/v1/event-types/$name/quality/rules" \
      -H 'content-type: application/json' --data-binary @"$rules"
  fi
  urls[$variant]=$url/v1/events/$name
  log "$variant: $url ($name)"
done

for round in $(seq "$rounds"); do
  for variant in off scored rules; do
    "$bin" http-load --system "quality-$variant" --url "${urls[$variant]}" --server-pid "${pids[$variant]}" \
      --broker-pid "$broker_pid" --warmup "$warmup" --phase batch --batch 100 \
      --connections "$connections" --duration "$seconds" | tee -a "$out" |
      jq -r --arg r "$round" '"round \($r) \(.system): \(.events_per_server_cpu_second) events/server CPU-s, \(.events_per_second) events/s, \(.failed_requests) failed requests"' >&2
  done
done

# The share of the `rules` server's CPU spent in quality code, from a profile (perf, cpu-clock,
# DWARF call graphs): samples inside Scorer::assess (the rules and the score) and
# QualityHook::observe (counting verdicts for the history), callees included. Less noisy than comparing throughputs; it leaves out the `tributary.quality` header's
# cost in librdkafka.
if command -v perf >/dev/null; then
  "$bin" http-load --system quality-profile --url "${urls[rules]}" --server-pid "${pids[rules]}" \
    --broker-pid "$broker_pid" --warmup "$warmup" --phase profile --batch 100 \
    --connections "$connections" --duration "$seconds" >/dev/null &
  load=$!
  sleep "$warmup"
  # DWARF call graphs: release builds keep no frame pointers.
  perf record -q -e cpu-clock -F 199 --call-graph dwarf,8192 -p "${pids[rules]}" -o "$work/perf.data" \
    -- sleep "$((seconds - 1))" >&2
  wait "$load"
  perf report -i "$work/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
    { grep -E 'Scorer>::assess |QualityHook::observe ' || true; } |
    awk '{gsub("%", "", $1); share += $1; print "quality-bench: profile: " $0 > "/dev/stderr"} END {printf "{\"bench\": \"quality-profile\", \"quality_share_of_server_cpu_pct\": %.2f}\n", share}' |
    tee -a "$out"
else
  log "perf is not installed (Debian: linux-perf): no profile share"
fi

# Medians (and ranges) per variant, the cost relative to `off` (1 − variant / off, per
# CPU-second), and the verdict: from the profile share when there is one (throughputs of three
# servers sharing two cores with the broker and the load generator drift by ±20 % from run to
# run, more than the effect measured), else from the medians.
jq -s '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def runs($system): map(select(.system == $system) | .events_per_server_cpu_second);
  # The median over rounds of 1 − variant / off within the same round (drift cancels).
  def paired($system): [runs("quality-off"), runs($system)] | transpose | map(1 - .[1] / .[0]) | median;
  (runs("quality-off") | median) as $off
  | (runs("quality-scored") | median) as $scored
  | (runs("quality-rules") | median) as $rules
  | (map(select(.bench == "quality-profile") | .quality_share_of_server_cpu_pct) | .[0]) as $share
  | {bench: "quality-summary", quality_share_of_rules_server_cpu_pct: $share,
     median_events_per_server_cpu_second: {off: $off, scored: $scored, rules: $rules},
     range_events_per_server_cpu_second: {off: [runs("quality-off") | min, max],
       scored: [runs("quality-scored") | min, max], rules: [runs("quality-rules") | min, max]},
     cost_of_scoring_pct: ((1 - $scored / $off) * 1000 | round / 10),
     cost_of_scoring_with_five_rules_pct: ((1 - $rules / $off) * 1000 | round / 10),
     paired_cost_of_scoring_pct: (paired("quality-scored") * 1000 | round / 10),
     paired_cost_of_scoring_with_five_rules_pct: (paired("quality-rules") * 1000 | round / 10),
     target_pct: 10,
     met: (if $share != null then $share <= 10 else (1 - $rules / $off) <= 0.10 end)}' "$out" | tee -a "$out"
log "results: $out"

#!/usr/bin/env bash
# Gateway benchmark (one command): the same ~512-byte JSON events, validated against the same
# JSON Schema and produced durably (idempotent, acks=all) to Tansu (memory://, on 127.0.0.1),
# through three systems one after the other, each against a fresh broker:
#   tributary  `tributary serve` with the Kafka event log
#   baseline   FastAPI + uvicorn + fastjsonschema + confluent-kafka (bench/baseline/app.py)
#   floor      a bare one-thread rdkafka producer loop (`tributary-bench floor`); after a
#              Tributary run, also paced at Tributary's half-load rate: the delivery latency of
#              the broker and librdkafka alone, the reference for the p99 target
# For each HTTP system: single-event POSTs, closed loop, to find the maximum rate; single-event
# POSTs open loop at half that rate (p50/p99/p99.9 from the intended send times); then, on a
# fresh broker and server, batches of 100 events, closed loop at several connection counts
# (accepted events per server CPU-second); peak RSS. Last, alternating pairs of Tributary's
# batch run and the floor's, each on a fresh broker: the median of their ratios is the share
# of the floor the summary judges. Before the runs and after them it times a Python loop (the
# machine's speed) and, when `perf` works, counts whole-machine stops (bench/host-stalls.py).
# Prints a Markdown table; JSON lines and a summary go to bench/out/.
#   bench/gateway.sh
# Knobs (environment): GATEWAY_SYSTEMS ("tributary baseline floor"), GATEWAY_SECONDS (8, per
# closed-loop run), GATEWAY_WARMUP (2), GATEWAY_OPEN_SECONDS (20), GATEWAY_BATCH_CONNECTIONS
# ("16 64 128 256"), GATEWAY_SINGLE_CONNECTIONS ("64 256"), GATEWAY_OPEN_CONNECTIONS (256),
# GATEWAY_PAIRS (3; 0 for none), GATEWAY_PROFILE=1 (one more batch run of Tributary under
# `perf record`; the flat profile goes to bench/out/gateway-profile-*.txt, not into the
# results).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/services.sh

systems=${GATEWAY_SYSTEMS:-tributary baseline floor}
seconds=${GATEWAY_SECONDS:-8}
warmup=${GATEWAY_WARMUP:-2}
open_seconds=${GATEWAY_OPEN_SECONDS:-20}
batch_connections=${GATEWAY_BATCH_CONNECTIONS:-16 64 128 256}
single_connections=${GATEWAY_SINGLE_CONNECTIONS:-64 256}
open_connections=${GATEWAY_OPEN_CONNECTIONS:-256}
profile=${GATEWAY_PROFILE:-0}
pairs=${GATEWAY_PAIRS:-3}
schema=bench/gateway/order-placed.schema.json
venv=bench/out/venv-gateway

log() { echo "gateway-bench: $*" >&2; }

ensure_tansu
log "building release binaries"
cargo build --release -q -p tributary -p tributary-bench
bin=target/release/tributary-bench

# The baseline's virtualenv, rebuilt whenever its pinned requirements or the interpreter change.
# Debian's interpreter when there is one: built with PGO and LTO, as production images are.
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
wanted=$({ cat bench/baseline/requirements.txt; "$python" --version; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$wanted" ]; then
  log "installing the baseline's pinned packages into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/baseline/requirements.txt >&2
  echo "$wanted" >"$venv/.requirements.sha256"
fi

mkdir -p bench/out
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/out/gateway-$stamp.jsonl
work=$(mktemp -d /tmp/tributary-gateway-bench.XXXXXX)
server_pid=
half_rate=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop_server; stop_services; rm -rf "$work"' EXIT
trap 'log "failed: line $LINENO exited with status $?"' ERR

# This machine's speed at the moment: a fixed one-thread CPU loop, in ns per iteration. Shared
# hosts have been measured to slow down twofold within minutes; runs compare only at similar
# values. Taken before the runs and after them.
cpu_loop_ns() {
  "$python" -c 'import time
t = time.perf_counter()
s = 0
for i in range(5_000_000):
    s += i
print(round((time.perf_counter() - t) / 5e6 * 1e9, 1))'
}

# Whether the whole machine stops now and then (bench/host-stalls.py), which puts every
# request in flight late by the stop's length; null without a usable `perf`. Before the runs
# and after them, as the speed.
host_stalls() {
  if command -v perf >/dev/null && "$python" bench/host-stalls.py 10 2>/dev/null; then
    return
  fi
  echo null
}

# The machine and the versions, as the first line of the results.
jq -cn --arg nproc "$(nproc)" --arg loop "$(cpu_loop_ns)" --argjson stalls "$(host_stalls)" \
  --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
  --arg mem "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)" \
  --arg kernel "$(uname -r)" --arg rustc "$(rustc --version)" \
  --arg tansu "$(tansu --version 2>/dev/null | sed -n 1p)" --arg python "$("$venv/bin/python" --version)" \
  --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg baseline "$("$venv/bin/pip" freeze | tr '\n' ' ')" \
  '{bench: "gateway-machine", nproc: ($nproc | tonumber), cpu: $cpu, memory: $mem, kernel: $kernel,
    rustc: $rustc, tansu: $tansu, python: $python, load_average_at_start: $load,
    cpu_loop_ns_at_start: ($loop | tonumber), host_stalls_at_start: $stalls,
    baseline_packages: $baseline}' |
  tee "$out"

# fresh_broker: a new, empty Tansu memory:// broker for the next system. Tansu's cost per
# record grows with what it holds, and so does its clients': the floor did 586k records per
# CPU-second on a fresh broker and 241k on one that Tributary and the baseline had filled
# (bench/RESULTS.md, "A native producer"), so a shared broker made the result depend on the
# order of the systems.
fresh_broker() {
  stop_services
  rm -rf "$work/tansu"
  start_tansu "$work/tansu" memory
  broker_pid=${_started_pids[-1]}
}

# latency_runs SYSTEM URL: the single-event maximum, then half of it open loop.
latency_runs() {
  local system=$1 url=$2 c line rps max=0 rate
  local common=(--system "$system" --url "$url" --server-pid "$server_pid" --broker-pid "$broker_pid" --warmup "$warmup")
  for c in $single_connections; do
    line=$("$bin" http-load "${common[@]}" --phase single-max --batch 1 --connections "$c" --duration "$seconds")
    echo "$line" | tee -a "$out"
    rps=$(echo "$line" | jq '.requests_per_second')
    max=$(jq -n --argjson a "$max" --argjson b "$rps" '[$a, $b] | max')
  done
  rate=$(jq -n --argjson m "$max" '$m / 2 | floor')
  if [ "$rate" -lt 1 ]; then
    log "$system answered no single-event request; skipping the open-loop run"
  else
    [ "$system" = tributary ] && half_rate=$rate
    "$bin" http-load "${common[@]}" --phase single-rate --batch 1 --connections "$open_connections" \
      --rate "$rate" --duration "$open_seconds" | tee -a "$out"
  fi
}

# batch_run SYSTEM URL CONNECTIONS [PAIR]: batches of 100, closed loop; a pair number tags the
# run as one of the alternating pairs with the floor (phase "batch-pair").
batch_run() {
  local system=$1 url=$2 c=$3 pair=${4:-}
  "$bin" http-load --system "$system" --url "$url" --server-pid "$server_pid" --broker-pid "$broker_pid" \
    --warmup "$warmup" --phase batch --batch 100 --connections "$c" --duration "$seconds" |
    if [ -n "$pair" ]; then jq -c --argjson k "$pair" '. + {phase: "batch-pair", pair: $k}'; else cat; fi |
    tee -a "$out"
}

# floor_run [PAIR]: the bare producer loop on the current broker.
floor_run() {
  local pair=${1:-}
  "$bin" floor --bootstrap "$TRIBUTARY_TEST_KAFKA" --topic bench.gateway_floor \
    --duration "$seconds" --broker-pid "$broker_pid" |
    if [ -n "$pair" ]; then jq -c --argjson k "$pair" '. + {pair: $k}'; else cat; fi |
    tee -a "$out"
}

# start_tributary / start_baseline: the system on the current broker, its type and schema
# registered; set server_pid and url.
start_tributary() {
  local port
  port=$(free_port)
  log "tributary serve on 127.0.0.1:$port (Kafka event log)"
  rm -rf "$work/tributary"
  target/release/tributary serve --kafka "$TRIBUTARY_TEST_KAFKA" \
    --data-dir "$work/tributary" --listen "127.0.0.1:$port" >"$work/tributary.log" 2>&1 &
  server_pid=$!
  wait_for_port "$port" 60
  curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/v1/event-types" -H 'content-type: application/json' \
    -d '{"name": "bench.gateway", "owner": "bench", "partitions": 3}'
  jq -n --rawfile s "$schema" '{schemaType: "JSON", schema: $s}' |
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/subjects/bench.gateway-value/versions" \
      -H 'content-type: application/vnd.schemaregistry.v1+json' --data-binary @-
  url=http://127.0.0.1:$port/v1/events/bench.gateway
}

start_baseline() {
  local port
  port=$(free_port)
  log "baseline (FastAPI + uvicorn) on 127.0.0.1:$port"
  "$venv/bin/python" - "$TRIBUTARY_TEST_KAFKA" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
for future in admin.create_topics([NewTopic("bench.gateway_baseline", 3, 1)]).values():
    future.result()
PY
  BASELINE_KAFKA=$TRIBUTARY_TEST_KAFKA BASELINE_TOPIC=bench.gateway_baseline BASELINE_SCHEMA=$schema \
    "$venv/bin/python" -m uvicorn app:app --app-dir bench/baseline --host 127.0.0.1 --port "$port" \
    --workers 1 --loop uvloop --http httptools --no-access-log --log-level warning \
    >"$work/baseline.log" 2>&1 &
  server_pid=$!
  wait_for_port "$port" 60
  url=http://127.0.0.1:$port/v1/events/bench.gateway_baseline
}

# profile_server: Tributary under batch load (32 connections) sampled by perf (cpu-clock).
profile_server() {
  local url=$1 load report=bench/out/gateway-profile-$stamp.txt
  if ! command -v perf >/dev/null; then
    log "GATEWAY_PROFILE is set but perf is not installed (Debian: linux-perf); no profile"
    return 0
  fi
  "$bin" http-load --system tributary --phase profile --url "$url" --batch 100 --connections 32 \
    --warmup "$warmup" --duration "$seconds" >/dev/null &
  load=$!
  sleep "$warmup"
  perf record -q -e cpu-clock -F 999 -g -p "$server_pid" -o "$work/perf.data" -- sleep "$((seconds - 1))" >&2
  wait "$load"
  {
    echo "# tributary serve under batch load: self time by symbol (perf, cpu-clock)"
    perf report -i "$work/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%'
    perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep '%' | sed -n '1,60p'
  } | sed 's/  */ /g' >"$report"
  log "profile: $report"
}

# Each system's latency runs and its batch sweep start on a fresh broker and a fresh server,
# as the floor does: the batch sweep then measures the gateway, not how full the latency runs
# left Tansu's memory:// store (the 2026-11-29 04:03 run measured 225k events per CPU-second
# after the latency runs, 245-281k in batch runs on an empty broker the same morning).
for system in $systems; do
  case $system in
    tributary | baseline)
      fresh_broker
      "start_$system"
      latency_runs "$system" "$url"
      stop_server
      fresh_broker
      "start_$system"
      for c in $batch_connections; do batch_run "$system" "$url" "$c"; done
      if [ "$system" = tributary ] && [ "$profile" = 1 ]; then profile_server "$url"; fi
      stop_server
      ;;
    floor)
      fresh_broker
      log "floor: bare rdkafka producer loop"
      floor_run
      if [ -n "$half_rate" ]; then
        fresh_broker
        log "floor paced at Tributary's half-load rate ($half_rate records/s), linger.ms=1 as Tributary"
        "$bin" floor --bootstrap "$TRIBUTARY_TEST_KAFKA" --topic bench.gateway_floor_paced \
          --duration "$open_seconds" --broker-pid "$broker_pid" --rate "$half_rate" \
          --linger-ms 1 | tee -a "$out"
      fi
      ;;
    *) log "unknown system $system"; exit 2 ;;
  esac
done

# Alternating pairs: Tributary's batch run at its most efficient connection count, then the
# floor, each on a fresh broker (and a fresh server), GATEWAY_PAIRS times. This host's speed
# drifts by a fifth within minutes; a pair's two runs are a minute apart, so the median of the
# pairs' ratios is the share of the floor the summary judges, not one run against another.
if [ "$pairs" -gt 0 ] && [[ " $systems " == *" tributary "* ]] && [[ " $systems " == *" floor "* ]]; then
  best=$(jq -s '[.[] | select(.system == "tributary" and .phase == "batch")]
    | max_by(.events_per_server_cpu_second) | .connections' "$out")
  for k in $(seq 1 "$pairs"); do
    log "pair $k of $pairs: tributary at $best connections, then the floor"
    fresh_broker
    start_tributary
    batch_run tributary "$url" "$best" "$k"
    stop_server
    fresh_broker
    floor_run "$k"
  done
fi

jq -cn --arg loop "$(cpu_loop_ns)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --argjson stalls "$(host_stalls)" \
  '{bench: "gateway-machine-end", cpu_loop_ns_at_end: ($loop | tonumber), load_average_at_end: $load,
    host_stalls_at_end: $stalls}' |
  tee -a "$out"

echo >&2
"$bin" gateway-summary "$out" --out "bench/out/gateway-summary-$stamp.json" | tee "bench/out/gateway-summary-$stamp.md"
log "results: $out, bench/out/gateway-summary-$stamp.json"

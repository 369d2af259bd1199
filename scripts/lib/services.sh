# Starts and stops the real services Tributary's tests use, on 127.0.0.1 only.
# Source this file; every function prints what it does on stderr.
#   ensure_packages    Debian packages the services need (PostgreSQL, Redis, and Chromium with
#                      chromedriver for the UI's browser tests)
#   ensure_tansu       the Tansu broker (cargo install, reused when present)
#   ensure_python      PyPI packages the tests use as independent implementations
#   ensure_node_clients npm packages of tests/clients (pinned by its package-lock.json)
#   ensure_schemathesis the API fuzzer scripts/api-fuzz runs (pinned, in a venv of its own)
#   start_postgres DIR exports TRIBUTARY_TEST_DATABASE_URL
#   start_tansu DIR    exports TRIBUTARY_TEST_KAFKA (sqlite:// storage: correct offsets;
#                      adds the header index Tansu lacks, see tansu_index_headers)
#   stop_services      stops everything started here

TANSU_VERSION=0.6.0
_started_pids=()

_log() { echo "services: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1 (at most $2 seconds).
wait_for_port() {
  local port=$1 limit=${2:-60} i
  for ((i = 0; i < limit * 10; i++)); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  _log "nothing is listening on 127.0.0.1:$port after ${limit}s"
  return 1
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

ensure_packages() {
  local missing=()
  pg_bin >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then
    _log "installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

# Pinned so that an independent implementation's answers do not drift under the tests.
PYTHON_TEST_PACKAGES=(avro==1.12.0 'confluent-kafka[avro,json,schemaregistry]==2.16.1')

ensure_python() {
  if ! python3 -c 'import avro, confluent_kafka.schema_registry.avro, confluent_kafka.schema_registry.json_schema' 2>/dev/null; then
    _log "installing ${PYTHON_TEST_PACKAGES[*]} from PyPI"
    python3 -m pip install --quiet --disable-pip-version-check "${PYTHON_TEST_PACKAGES[@]}" >&2
  fi
}

# The npm Schema Registry client tests/registry_clients.rs drives (versions pinned in
# tests/clients/package-lock.json).
ensure_node_clients() {
  if ! command -v npm >/dev/null; then
    _log "installing nodejs and npm from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends nodejs npm >&2
  fi
  if [ ! -d tests/clients/node_modules/@kafkajs/confluent-schema-registry ]; then
    _log "installing the npm test clients (tests/clients)"
    (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
}

# The API fuzzer (scripts/api-fuzz), in a venv of its own so that its dependencies never
# meet the test packages above. Exports SCHEMATHESIS (the command).
SCHEMATHESIS_VERSION=4.32.5

ensure_schemathesis() {
  local venv="${TRIBUTARY_TOOLS_DIR:-$HOME/.cache/tributary}/schemathesis-$SCHEMATHESIS_VERSION"
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    _log "installing schemathesis $SCHEMATHESIS_VERSION from PyPI into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
  fi
  export SCHEMATHESIS="$venv/bin/schemathesis"
}

ensure_tansu() {
  if command -v tansu >/dev/null && tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
    return 0
  fi
  if [ -x "$HOME/.cargo/bin/tansu" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
    return 0
  fi
  _log "building tansu $TANSU_VERSION (about 10-15 minutes, once per machine)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql >&2
}

# A private PostgreSQL cluster in DIR, owned by the postgres user (it refuses to run as root).
start_postgres() {
  local dir=$1 bin port
  bin=$(pg_bin) || { _log "PostgreSQL is not installed"; return 1; }
  port=$(free_port)
  mkdir -p "$dir"
  local runas=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    runas=(runuser -u postgres --)
  fi
  "${runas[@]}" "$bin/initdb" -D "$dir/data" -U tributary --auth=trust -E UTF8 >/dev/null
  "${runas[@]}" "$bin/postgres" -D "$dir/data" -c listen_addresses=127.0.0.1 -p "$port" \
    -c unix_socket_directories="$dir" -c fsync=off -c max_connections=300 >"$dir/postgres.log" 2>&1 &
  _started_pids+=($!)
  wait_for_port "$port" 60
  export TRIBUTARY_TEST_DATABASE_URL="postgres://tributary@127.0.0.1:$port/postgres"
  _log "PostgreSQL on 127.0.0.1:$port ($TRIBUTARY_TEST_DATABASE_URL)"
}

# Tansu on sqlite:// storage: memory:// answers ListOffsets wrongly (see TESTBED.md).
start_tansu() {
  local dir=$1 engine=${2:-sqlite} port storage
  port=$(free_port)
  mkdir -p "$dir"
  # Tansu resolves sqlite:// paths against its working directory, so it runs inside $dir.
  # Its storage maintenance (retention and compaction scans over every record, then a vacuum;
  # every 10 minutes by default) stalled reads on sqlite:// for over 30 s while the disk was
  # busy, failing whichever test read at that moment (docs/kafka-log.md); test brokers keep
  # nothing long enough to need it, so it runs only at start.
  case $engine in
    sqlite) storage="sqlite://tansu.db?maintenance_interval=7days" ;;
    memory) storage="memory://tansu/" ;;
  esac
  (cd "$dir" && exec tansu broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "$storage" >tansu.log 2>&1) &
  _started_pids+=($!)
  wait_for_port "$port" 60
  if [ "$engine" = sqlite ]; then tansu_index_headers "$dir/tansu.db"; fi
  export TRIBUTARY_TEST_KAFKA="127.0.0.1:$port"
  _log "Tansu ($engine) on $TRIBUTARY_TEST_KAFKA"
}

# Tansu 0.6.0's sqlite schema has no index on header (topition, offset_id), yet a Fetch looks
# up every returned record's headers by exactly those columns: each fetched record scans
# every header in the broker. Fetches slow down as the suite writes records with headers
# (the gateway's enrichment headers), until later reads time out. Tansu creates its schema
# before it listens; the index only adds a lookup path and changes no answer.
tansu_index_headers() {
  python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
db.execute("create index if not exists header_topition_offset on header (topition, offset_id)")
db.commit()
PY
}

# Tansu on sqlite ignores SIGTERM (TESTBED.md): SIGKILL what is left after a grace period.
stop_services() {
  local pid
  for pid in "${_started_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 1
  for pid in "${_started_pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  _started_pids=()
}

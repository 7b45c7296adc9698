#!/usr/bin/env bash
# A bounded soak: three nodes on 127.0.0.1, constant churn (HTTP register / beat /
# deregister over a fixed universe of instances, gRPC connections that come and go) for
# SOAK_SECS seconds, every node's RSS and queue depths sampled; at the end every soak
# instance must disappear from every node. Not run by CI (it takes minutes); its results go
# to RELIABILITY.md.
#
#   benches/soak.sh                          # 5 minutes, 2000 req/s, 2000 instances
#   SOAK_SECS=60 RATE=500 benches/soak.sh
#   BUILD=0 benches/soak.sh                  # reuse target/release binaries
set -euo pipefail

cd "$(dirname "$0")/.."

SOAK_SECS=${SOAK_SECS:-300}
RATE=${RATE:-2000}
INSTANCES=${INSTANCES:-2000}
CONCURRENCY=${CONCURRENCY:-12}
BASE_PORT=${BASE_PORT:-38848}
OUT=${OUT:-target/soak-results}
BUILD=${BUILD:-1}
SERVER=${SERVER:-target/release/distro-server}
LOAD=${LOAD:-target/release/distro-load}

P1=$BASE_PORT P2=$((BASE_PORT + 10)) P3=$((BASE_PORT + 20))
MEMBERS="127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3"
SECRET="soak-$RANDOM$RANDOM$RANDOM"
PIDS=()

stop_nodes() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap stop_nodes EXIT
trap 'stop_nodes; exit 130' INT TERM

if [[ "$BUILD" == 1 ]]; then
    echo "== building release binaries" >&2
    cargo build --release -p distro-server -p distro-bench --bin distro-server --bin distro-load >&2
fi

mkdir -p "$OUT"
for port in "$P1" "$P2" "$P3"; do
    DISTRO_CLUSTER__SECRET="$SECRET" "$SERVER" --bind 127.0.0.1 --port "$port" \
        --members "$MEMBERS" --log-level warn >> "$OUT/node-$port.log" 2>&1 &
    PIDS+=($!)
done
ready() { curl -sf "http://127.0.0.1:$1/nacos/v1/console/health/readiness" >/dev/null; }
for _ in $(seq 1 300); do
    ready "$P1" && ready "$P2" && ready "$P3" && break
    sleep 0.1
done

{
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB"
    echo "started: $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "soak: ${SOAK_SECS}s, ${RATE} req/s, ${INSTANCES} instances, ${CONCURRENCY} HTTP workers"
} | tee "$OUT/machine.txt" >&2

PID_LIST=$(IFS=,; echo "${PIDS[*]}")
"$LOAD" soak --target "127.0.0.1:$P1" --nodes "127.0.0.1:$P2,127.0.0.1:$P3" \
    --node-pids "$PID_LIST" --duration "$SOAK_SECS" --rate "$RATE" \
    --instances "$INSTANCES" --concurrency "$CONCURRENCY" --warmup 0 \
    2> >(tee "$OUT/progress.log" >&2) | tee "$OUT/summary.json"

python3 - "$OUT/summary.json" <<'PY'
import json, sys
summary = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
flat = summary["flat"]
print(f"requests {summary['requests']} ({summary['throughput']} req/s ok), errors {summary['errors']}, "
      f"gRPC connection cycles {summary['grpc_cycles']} (errors {summary['grpc_errors']})")
for k, node in enumerate(flat["rss"]):
    print(f"node {k + 1}: RSS after warm-up {node['after_warmup_mb']} MB, end {node['end_mb']} MB, max {node['max_mb']} MB")
print(f"max sync backlog {flat['max_sync_backlog']}, max push pending services {flat['max_push_pending_services']}, "
      f"events dropped {flat['events_dropped']}, sync overflows {flat['sync_overflows']}")
drained = summary["drained_s"]
print("every soak instance gone from every node after", f"{drained:.1f} s" if drained is not None else "NEVER (lingering instances)")
sys.exit(0 if drained is not None else 1)
PY

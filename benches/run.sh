#!/usr/bin/env bash
# Reproduces the table of BENCHMARKS.md.
#
# Builds the release binaries, then runs every single-node scenario RUNS times (default 3),
# each against a fresh server pinned to core SERVER_CORE (taskset) with the load tool pinned
# to core LOAD_CORE, and finally the unpinned runs of the "uses both cores" check. Every
# summary line goes to $OUT/results.jsonl; the table of medians is printed and written to
# $OUT/table.md. Only 127.0.0.1 is used; the server is stopped on exit, whatever happens.
#
#   benches/run.sh                      # everything (about 25 minutes)
#   SCENARIOS="list:10 beat" RUNS=1 benches/run.sh
#   UNPINNED=0 benches/run.sh           # skip the unpinned check
#   BUILD=0 SERVER=/path/distro-server benches/run.sh   # measure prebuilt binaries
#   CLUSTER=0 benches/run.sh            # skip the three-node scenarios
set -euo pipefail

cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
MEMORY_DURATION=${MEMORY_DURATION:-30}
CONCURRENCY=${CONCURRENCY:-32}
PORT=${PORT:-18848}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
UNPINNED=${UNPINNED:-1}
CLUSTER=${CLUSTER:-1}
CLUSTER_PORT=${CLUSTER_PORT:-28848}
CONVERGENCE_CHANGES=${CONVERGENCE_CHANGES:-100}
SNAPSHOT_INSTANCES=${SNAPSHOT_INSTANCES:-100000}
VERIFY_INSTANCES=${VERIFY_INSTANCES:-10000}
VERIFY_ROUNDS=${VERIFY_ROUNDS:-6}
OUT=${OUT:-target/bench-results}
SCENARIOS=${SCENARIOS-"liveness register beat beat-full list:10 list:100 deregister:200000 grpc-register grpc-query:10 push-latency memory:100000"}
UNPINNED_SCENARIOS=${UNPINNED_SCENARIOS-"register beat list:10 list:100"}

BUILD=${BUILD:-1}
SERVER=${SERVER:-target/release/distro-server}
LOAD=${LOAD:-target/release/distro-load}
SERVER_PID=""
NODE_PID_DIR=""

cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
# wait_gone PID: waits (up to 10 s) until the process has exited and freed its ports.
wait_gone() {
    for _ in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
}
stop_nodes() {
    if [[ -n "$NODE_PID_DIR" ]]; then
        for f in "$NODE_PID_DIR"/node*.pid; do
            [[ -f "$f" ]] || continue
            local pid
            pid=$(cat "$f")
            kill "$pid" 2>/dev/null || true
            wait_gone "$pid"
            rm -f "$f"
        done
    fi
}
trap 'cleanup; stop_nodes' EXIT
trap 'cleanup; stop_nodes; exit 130' INT TERM

if [[ "$BUILD" == 1 ]]; then
    echo "== building release binaries" >&2
    cargo build --release -p distro-server -p distro-bench --bin distro-server --bin distro-load >&2
fi

mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

{
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB"
    echo "started: $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2

# start_server CORES: starts a fresh server (pinned to CORES unless empty), waits until ready.
start_server() {
    local cores=$1
    if [[ -n "$cores" ]]; then
        taskset -c "$cores" "$SERVER" --bind 127.0.0.1 --port "$PORT" --log-level warn &
    else
        "$SERVER" --bind 127.0.0.1 --port "$PORT" --log-level warn &
    fi
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if curl -sf "http://127.0.0.1:$PORT/nacos/v1/console/health/readiness" >/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "server did not become ready" >&2
    return 1
}

# run_one SCENARIO[:INSTANCES] LABEL SERVER_CORES LOAD_CORES
run_one() {
    local spec=$1 label=$2 server_cores=$3 load_cores=$4
    local name=${spec%%:*} instances=""
    [[ "$spec" == *:* ]] && instances=${spec#*:}
    local args=(--target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" --label "$label")
    [[ -n "$instances" ]] && args+=(--instances "$instances")
    if [[ "$name" == memory ]]; then
        args+=(--duration "$MEMORY_DURATION")
    else
        args+=(--duration "$DURATION")
    fi
    echo "== $spec ($label), load average $(cut -d' ' -f1 /proc/loadavg)" >&2
    start_server "$server_cores"
    args+=(--server-pid "$SERVER_PID")
    local line status=0
    if [[ -n "$load_cores" ]]; then
        line=$(taskset -c "$load_cores" "$LOAD" "$name" "${args[@]}") || status=$?
    else
        line=$("$LOAD" "$name" "${args[@]}") || status=$?
    fi
    if [[ $status -eq 0 ]]; then
        echo "$line" | tee -a "$RESULTS"
    else
        echo "== $spec ($label) FAILED (exit $status)" >&2
    fi
    cleanup
}

for run in $(seq 1 "$RUNS"); do
    for spec in $SCENARIOS; do
        run_one "$spec" pinned "$SERVER_CORE" "$LOAD_CORE"
    done
done

if [[ "$UNPINNED" == 1 ]]; then
    for run in $(seq 1 "$RUNS"); do
        for spec in $UNPINNED_SCENARIOS; do
            run_one "$spec" unpinned "" ""
        done
    done
fi

# Three nodes on 127.0.0.1 (unpinned: every node needs the cores), with a secret made for
# this run; node 3 is restarted by the snapshot-load scenario through a script.
if [[ "$CLUSTER" == 1 ]]; then
    NODE_PID_DIR="$OUT/nodes"
    mkdir -p "$NODE_PID_DIR"
    SECRET="bench-$RANDOM$RANDOM$RANDOM"
    P1=$CLUSTER_PORT P2=$((CLUSTER_PORT + 10)) P3=$((CLUSTER_PORT + 20))
    MEMBERS="127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3"
    cat > "$NODE_PID_DIR/start-node.sh" <<SCRIPT
#!/usr/bin/env bash
# start-node.sh N PORT: (re)starts node N in the background, its pid in node N.pid.
if [[ -f "$NODE_PID_DIR/node\$1.pid" ]]; then
    old=\$(cat "$NODE_PID_DIR/node\$1.pid")
    kill "\$old" 2>/dev/null
    for _ in \$(seq 1 100); do kill -0 "\$old" 2>/dev/null || break; sleep 0.1; done
fi
DISTRO_CLUSTER__SECRET="$SECRET" nohup "$SERVER" --bind 127.0.0.1 --port "\$2" \\
    --members "$MEMBERS" --log-level warn >> "$NODE_PID_DIR/node\$1.log" 2>&1 &
echo \$! > "$NODE_PID_DIR/node\$1.pid"
SCRIPT
    chmod +x "$NODE_PID_DIR/start-node.sh"
    ready() { curl -sf "http://127.0.0.1:$1/nacos/v1/console/health/readiness" >/dev/null; }
    for run in $(seq 1 "$RUNS"); do
        echo "== cluster run $run, load average $(cut -d' ' -f1 /proc/loadavg)" >&2
        stop_nodes
        "$NODE_PID_DIR/start-node.sh" 1 "$P1"
        "$NODE_PID_DIR/start-node.sh" 2 "$P2"
        "$NODE_PID_DIR/start-node.sh" 3 "$P3"
        for _ in $(seq 1 300); do
            ready "$P1" && ready "$P2" && ready "$P3" && break
            sleep 0.1
        done
        "$LOAD" convergence --target "127.0.0.1:$P1" --nodes "127.0.0.1:$P2,127.0.0.1:$P3" \
            --changes "$CONVERGENCE_CHANGES" --label cluster | tee -a "$RESULTS" ||
            echo "== convergence FAILED" >&2
        "$LOAD" verify-bytes --target "127.0.0.1:$P1" --instances "$VERIFY_INSTANCES" \
            --changes "$VERIFY_ROUNDS" --label cluster | tee -a "$RESULTS" ||
            echo "== verify-bytes FAILED" >&2
        "$LOAD" snapshot-load --target "127.0.0.1:$P1" --nodes "127.0.0.1:$P3" \
            --instances "$SNAPSHOT_INSTANCES" --label cluster \
            --restart-cmd "'$NODE_PID_DIR/start-node.sh' 3 $P3" | tee -a "$RESULTS" ||
            echo "== snapshot-load FAILED" >&2
    done
    stop_nodes
fi

python3 benches/table.py "$RESULTS" | tee "$OUT/table.md"

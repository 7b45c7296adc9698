#!/usr/bin/env bash
# Runs every fuzz target for a given time (seconds per test; each target has a structured
# and a mutated test), in release, one test at a time, and prints executions and CPU time.
#
#   fuzz/run.sh 600            # ten minutes per test
#   fuzz/run.sh 60 record      # only the record target
#   DISTRO_FUZZ_SEED=42 fuzz/run.sh 30
#
# CI runs the same tests in debug with their short default budgets (`cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("${@:-http grpc record distro}")
read -r -a targets <<<"${targets[*]}"

cargo build --release -p distro-fuzz --tests --quiet
for target in "${targets[@]}"; do
  for test in structured mutated; do
    start=$(date +%s)
    # The test prints "fuzz <target>/<test>: N executions in T s"; /usr/bin/time the CPU.
    TIMEFORMAT="cpu: user %U s, system %S s, wall %R s"
    time DISTRO_FUZZ_SECS="$secs" cargo test --release -p distro-fuzz --quiet \
      --test "fuzz_${target}" -- --exact "${test}_$(case $target in
        http) echo requests ;; grpc) echo bodies ;; record) echo records ;; distro) echo messages ;;
      esac)" --nocapture 2>&1 | grep -E "^fuzz |^(http|grpc|record|distro)/|panicked|seed:|minimal input|^test result" || true
    echo "$target/$test done in $(( $(date +%s) - start )) s"
  done
done

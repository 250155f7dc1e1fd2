#!/usr/bin/env bash
# Runs every benchmark of a build: scripts/run-bench.sh BUILD_DIR [FILTER]
# Each benchmark measures its baseline (raw RocksDB, raw Docker, ...) in the same run and
# prints the ratio; record the results with the machine in bench/README.md.
# Docker benchmarks use SANDBOXD_TEST_DOCKER_HOST, or a private engine started here (root);
# the Kubernetes one SANDBOXD_TEST_KUBECONFIG, or a private API server (scripts/kube-env.sh).
set -euo pipefail
build=${1:?build dir}
filter=${2:-.}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/sandboxd-bench.XXXXXX)
started=0
started_kube=0
cleanup() {
  [[ $started -eq 1 ]] && "$here/docker-env.sh" stop "$work/docker" || true
  [[ $started_kube -eq 1 ]] && "$here/kube-env.sh" stop "$work/kube" || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
if [[ -z "${SANDBOXD_TEST_DOCKER_HOST:-}" && $(id -u) -eq 0 ]]; then
  SANDBOXD_TEST_DOCKER_HOST=$("$here/docker-env.sh" start "$work/docker" | tail -1)
  started=1
  export SANDBOXD_TEST_DOCKER_HOST
fi
if [[ -z "${SANDBOXD_TEST_KUBECONFIG:-}" && -x "$build/kubernetes_bench" && "kubernetes_bench" =~ $filter ]]; then
  "$here/kube-env.sh" build >/dev/null
  SANDBOXD_TEST_KUBECONFIG=$("$here/kube-env.sh" start "$work/kube" | tail -1)
  started_kube=1
  export SANDBOXD_TEST_KUBECONFIG
fi
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/{print $2}') GiB"
for b in "$build"/*_bench; do
  [[ -x "$b" ]] || continue
  [[ "$(basename "$b")" =~ $filter ]] || continue
  echo "== $(basename "$b")"
  "$b" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
done

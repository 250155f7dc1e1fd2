#!/usr/bin/env bash
# Installs the Debian packages sandboxd needs to build, run and test.
#   scripts/install-deps.sh [build|test|fuzz]
# As root, missing packages are installed with apt-get. Otherwise the exact apt-get line
# is printed and the script exits 1, so nothing is half-installed behind the user's back.
set -euo pipefail

build_pkgs=(cmake ninja-build g++ pkg-config ccache
  librocksdb-dev libpistache-dev libsimdjson-dev nlohmann-json3-dev libtomlplusplus-dev
  libcurl4-openssl-dev libarchive-dev libyaml-cpp-dev uuid-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libboost1.74-dev)
# Tests also need a Docker engine (started privately by scripts/docker-env.sh), the
# busybox that the test images are made of, Prometheus + promtool, Python for the
# official OpenSandbox SDK (installed into a venv by the tests), and a private image
# registry with htpasswd auth (docker-registry + apache2-utils' htpasswd, started by
# scripts/registry-env.sh).
test_pkgs=(docker.io busybox-static prometheus python3 python3-venv curl wrk openssl
  docker-registry apache2-utils)
# `make fuzz` only (not `make test`, which replays the corpus with GCC): libFuzzer needs
# clang, and Debian 12's default clang-14 cannot compile libstdc++ 12's <expected>
# (__cpp_concepts too old); clang-19 can. libclang_rt.fuzzer*.a (and the ASan/UBSan
# runtimes) are in libclang-rt-19-dev; llvm brings llvm-symbolizer for readable crash stacks.
fuzz_pkgs=(clang-19 libclang-rt-19-dev llvm)

# The Kubernetes test peer (scripts/kube-env.sh builds etcd + kube-apiserver + kubectl from
# the Go module proxy) needs Go >= 1.26. Debian 12's golang is 1.19; bookworm-backports has
# golang-1.23-go, new enough to fetch the go1.26.8 toolchain from the module proxy
# (GOTOOLCHAIN, done by kube-env.sh; tried: golang-1.23-go 1.23.5~bpo12 fetched go1.26.8
# in ~10 s). Installed only where no Go >= 1.21 is found (later Debian: golang-go).
go_pkg=golang-1.23-go
go_backports=/etc/apt/sources.list.d/sandboxd-bookworm-backports.list
have_usable_go() {
  local c v
  for c in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/lib/go-1.*/bin/go; do
    [[ -n "$c" && -x "$c" ]] || continue
    v=$(GOTOOLCHAIN=local "$c" env GOVERSION 2>/dev/null) || continue
    [[ "$v" =~ ^go1\.([0-9]+) ]] && (( BASH_REMATCH[1] >= 21 )) && return 0
  done
  return 1
}
need_go=0
[[ "${1:-build}" == "test" ]] && ! have_usable_go && need_go=1

want=("${build_pkgs[@]}")
[[ "${1:-build}" == "test" ]] && want+=("${test_pkgs[@]}")
[[ "${1:-build}" == "fuzz" ]] && want+=("${fuzz_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 && $need_go -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "sandboxd: missing Debian packages. Install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  fi
  if [[ $need_go -eq 1 ]]; then
    echo "sandboxd: no Go >= 1.21 for the Kubernetes test peer. On Debian 12:" >&2
    echo "  echo 'deb http://deb.debian.org/debian bookworm-backports main' | sudo tee $go_backports" >&2
    echo "  sudo apt-get update && sudo apt-get install -y -t bookworm-backports $go_pkg" >&2
  fi
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "sandboxd: installing ${missing[*]}" >&2
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ $need_go -eq 1 ]]; then
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  if [[ "$codename" == "bookworm" ]]; then
    echo "sandboxd: installing $go_pkg from bookworm-backports (the Kubernetes test peer's Go)" >&2
    [[ -f $go_backports ]] ||
      echo "deb http://deb.debian.org/debian bookworm-backports main" >"$go_backports"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -t bookworm-backports "$go_pkg" >/dev/null
  else
    # Later Debian releases ship a golang-go >= 1.21 in main.
    echo "sandboxd: installing golang-go (the Kubernetes test peer's Go)" >&2
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends golang-go >/dev/null
  fi
fi

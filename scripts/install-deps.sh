#!/usr/bin/env bash
# Installs the Debian packages sandboxd needs to build, run and test.
#   scripts/install-deps.sh [build|test|fuzz]
# As root, missing packages are installed with apt-get. Otherwise the exact apt-get line
# is printed and the script exits 1, so nothing is half-installed behind the user's back.
set -euo pipefail

build_pkgs=(cmake ninja-build g++ pkg-config ccache
  librocksdb-dev libpistache-dev libsimdjson-dev nlohmann-json3-dev libtomlplusplus-dev
  libcurl4-openssl-dev libarchive-dev libyaml-cpp-dev uuid-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev)
# Tests also need a Docker engine (started privately by scripts/docker-env.sh), the
# busybox that the test images are made of, Prometheus + promtool, and Python for the
# official OpenSandbox SDK (installed into a venv by the tests).
test_pkgs=(docker.io busybox-static prometheus python3 python3-venv curl wrk openssl)
# `make fuzz` only (not `make test`, which replays the corpus with GCC): libFuzzer needs
# clang, and Debian 12's default clang-14 cannot compile libstdc++ 12's <expected>
# (__cpp_concepts too old); clang-19 can. libclang_rt.fuzzer*.a (and the ASan/UBSan
# runtimes) are in libclang-rt-19-dev; llvm brings llvm-symbolizer for readable crash stacks.
fuzz_pkgs=(clang-19 libclang-rt-19-dev llvm)

want=("${build_pkgs[@]}")
[[ "${1:-build}" == "test" ]] && want+=("${test_pkgs[@]}")
[[ "${1:-build}" == "fuzz" ]] && want+=("${fuzz_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "sandboxd: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "sandboxd: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# sandboxd — the two commands a user needs:
#   make run    build (Release) and start sandboxd on its embedded defaults (127.0.0.1:8080 without an API key)
#   make test   build, then every test: unit, integration, end-to-end (real Docker, the
#               official Python SDK, a real Prometheus), again under ASan/UBSan, the
#               concurrency tests under ThreadSanitizer, and a replay of the fuzz corpus
# and for hardening work:
#   make fuzz   build the libFuzzer targets with clang-19 and run each FUZZ_SECONDS
# All install missing Debian packages first when run as root (otherwise they print the
# apt-get line and stop).
SHELL := /bin/bash
BUILD_DIR ?= build/release
ASAN_DIR  ?= build/asan
TSAN_DIR  ?= build/tsan
FUZZ_DIR  ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_OUT  ?= /tmp/sandboxd-fuzz
JOBS      ?= $(shell nproc)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
  CMAKE_FLAGS += -DSANDBOXD_WERROR=ON
endif
ARGS ?=
# ccache: key objects on paths relative to the checkout, so a second clone (CI) reuses
# the objects of the first.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps test-deps fuzz-deps build build-asan build-tsan build-fuzz run test test-release test-asan fuzz bench format clean

all: build

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

fuzz-deps:
	@scripts/install-deps.sh fuzz

build: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@ninja -C $(BUILD_DIR) -j$(JOBS)

# The sanitizer build: only what scripts/run-tests.sh runs under it (no benchmarks, no
# Docker/Prometheus tests), with line tables only (-g1: stack traces keep file:line, the
# build is faster).
build-asan: deps
	@cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSANDBOXD_SANITIZE=ON \
	  -DSANDBOXD_BENCH=OFF -DSANDBOXD_ENGINE_TESTS=OFF -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
	  $(CMAKE_FLAGS) >/dev/null
	@ninja -C $(ASAN_DIR) -j$(JOBS)

# ThreadSanitizer: only the concurrency tests (store pipeline, API with parked answers,
# workers on the fake runtime), see scripts/run-tests.sh. -O1 -g1: TSan is slow at -O0.
TSAN_TARGETS := store_test api_test api_proxy_test workers_test
build-tsan: deps
	@cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSANDBOXD_TSAN=ON \
	  -DSANDBOXD_BENCH=OFF -DSANDBOXD_ENGINE_TESTS=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
	  $(CMAKE_FLAGS) >/dev/null
	@ninja -C $(TSAN_DIR) -j$(JOBS) $(TSAN_TARGETS)

# libFuzzer needs clang; Debian 12's default clang (14) cannot compile libstdc++ 12's
# <expected>, clang-19 can. Only the fuzz targets (and the libraries they use) are built.
build-fuzz: fuzz-deps
	@CC=clang-19 CXX=clang++-19 cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSANDBOXD_FUZZ=ON -DBUILD_TESTING=OFF -DSANDBOXD_BENCH=OFF -DSANDBOXD_ENGINE_TESTS=OFF \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" >/dev/null
	@ninja -C $(FUZZ_DIR) -j$(JOBS) fuzz_request_parsing fuzz_event_codec fuzz_config fuzz_http_server

# Each fuzz target for FUZZ_SECONDS (default 60); findings land in FUZZ_OUT, outside the
# checkout. `make test` only replays the corpus (tests/fuzz/corpus) with the GCC builds.
fuzz: build-fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_OUT=$(FUZZ_OUT) scripts/run-fuzz.sh $(FUZZ_DIR)

run: build
	$(BUILD_DIR)/sandboxd $(ARGS)

# Every test of the Release build (Docker-backed ones against a private engine), then the
# unit and integration tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then the concurrency tests under ThreadSanitizer.
test: test-deps build build-asan build-tsan
	@scripts/run-tests.sh $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)

bench: build
	@scripts/run-bench.sh $(BUILD_DIR)

format:
	@git ls-files '*.h' '*.cpp' | xargs clang-format -i

clean:
	rm -rf build

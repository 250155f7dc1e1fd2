# sandboxd — the two commands a user needs:
#   make run    build (Release) and start sandboxd on its embedded defaults (127.0.0.1:8080 without an API key)
#   make test   build, then every test: unit, integration, end-to-end (real Docker, the
#               official Python SDK, a real Prometheus), and again under ASan/UBSan
# Both install missing Debian packages first when run as root (otherwise they print the
# apt-get line and stop).
SHELL := /bin/bash
BUILD_DIR ?= build/release
ASAN_DIR  ?= build/asan
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

.PHONY: all deps test-deps build build-asan run test test-release test-asan bench format clean

all: build

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

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

run: build
	$(BUILD_DIR)/sandboxd $(ARGS)

# Every test of the Release build (Docker-backed ones against a private engine), then the
# unit and integration tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-deps build build-asan
	@scripts/run-tests.sh $(BUILD_DIR) $(ASAN_DIR)

bench: build
	@scripts/run-bench.sh $(BUILD_DIR)

format:
	@git ls-files '*.h' '*.cpp' | xargs clang-format -i

clean:
	rm -rf build

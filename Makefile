# Tocsin: the two commands are `make run` and `make test`. See DEVELOPERS.md.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
CLANG_BUILD ?= build-clang
JOBS ?= $(shell nproc)
CONFIG ?= examples/tocsin.yaml
LISTEN ?= 127.0.0.1:8080
DATA ?= ./tocsin-data
PYTEST := /usr/bin/python3 -m pytest
FUZZ_SECONDS ?= 15

.PHONY: all deps build run test unit e2e fuzz clang format-check bench clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOCSIN_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/tocsin serve --config $(CONFIG) --data $(DATA) --listen $(LISTEN)

# The test build: gcc with AddressSanitizer and UndefinedBehaviorSanitizer.
# Unit tests and the black-box suite both run against it.
$(ASAN_BUILD)/tocsin: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTOCSIN_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

unit: $(ASAN_BUILD)/tocsin
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

e2e: $(ASAN_BUILD)/tocsin
	TOCSIN_BIN=$(CURDIR)/$(ASAN_BUILD)/tocsin $(PYTEST) -q tests/e2e

# A second compiler keeps the code honest; the fuzz build runs each target
# for a bounded time over its seed corpus.
clang: deps
	CC=clang cmake -S . -B $(CLANG_BUILD) -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(CLANG_BUILD) -j $(JOBS)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTOCSIN_FUZZ=ON \
	    -DTOCSIN_SANITIZE=ON -DTOCSIN_TESTS=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh $(FUZZ_BUILD)

format-check:
	@bad=$$(for f in $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'bench/*.c'); do \
	    clang-format --dry-run -Werror $$f >/dev/null 2>&1 || echo $$f; done); \
	if [ -n "$$bad" ]; then echo "not clang-formatted: $$bad"; exit 1; fi; echo "format: ok"

test: deps format-check clang unit e2e fuzz

bench: build
	bash bench/run.sh $(BUILD)/tocsin
	bash bench/checks.sh $(BUILD)/tocsin
	bash bench/notify.sh $(BUILD)/tocsin
	bash bench/metrics.sh $(BUILD)/tocsin
	bash bench/rules.sh $(BUILD)/rules_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(CLANG_BUILD)

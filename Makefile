# The short way in: `make demo` and `make test` install what is missing (Debian/Ubuntu, as root or
# with sudo), build a Release build in ./build and run. Everything else is plain CMake underneath.
BUILD   ?= build
JOBS    ?= 2
CONJURE := $(BUILD)/conjure
# The Python tests run on the system's Python, where Debian puts python3-numpy, -pytest and -torch.
PYTHON  ?= /usr/bin/python3

# --compare when the build found a peer (oneDNN or OpenBLAS). A shell expansion, not a make one:
# make expands a recipe before running its first line, when a fresh clone has no build yet.
COMPARE = $$(grep -qE '^(DNNL|OPENBLAS)_LIBRARY:FILEPATH=/' $(BUILD)/CMakeCache.txt && echo --compare)

.PHONY: all deps build test test-python test-sanitize test-asan test-tsan test-valgrind test-fuzz demo bench install clean

# Checking builds, each in its own directory (make test runs them all after the Release tests,
# the sanitizers last so that the run closes on ctest's summary):
#   build-asan  gcc, AddressSanitizer + UndefinedBehaviorSanitizer + allocation-failure injection:
#               the whole test suite
#   build-tsan  gcc, ThreadSanitizer, the builtin thread pool (Debian's pthreadpool is not
#               instrumented, so TSan would see its hand-offs as races): the threaded tests
#   build-fuzz  clang, libFuzzer + ASan + UBSan: FUZZ_SECONDS of fuzzing from tests/fuzz/corpus, with
#               the builtin pool too: pthreadpool's workers spin while they wait, which on a busy
#               machine took 98% of the time of the fuzzer's many small calls
# and valgrind's memcheck on a subset of the Release build.
SAN_FLAGS   = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONJURE_BUILD_TOOLS=OFF
FUZZ_SECONDS ?= 60
VALGRIND    = valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
              --suppressions=tests/valgrind.supp --error-exitcode=1 -q

all: build

deps:
	@bash scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

test: deps
	@$(MAKE) --no-print-directory build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	@$(MAKE) --no-print-directory test-python
	@$(MAKE) --no-print-directory test-valgrind test-fuzz test-sanitize

test-sanitize: test-asan test-tsan

test-asan:
	cmake -S . -B build-asan $(SAN_FLAGS) -DCONJURE_SANITIZE=address,undefined -DCONJURE_ALLOC_FAILURE_INJECTION=ON
	cmake --build build-asan -j$(JOBS)
	ctest --test-dir build-asan --output-on-failure -j$(JOBS)

test-tsan:
	cmake -S . -B build-tsan $(SAN_FLAGS) -DCONJURE_SANITIZE=thread -DCONJURE_THREADPOOL=builtin
	cmake --build build-tsan -j$(JOBS) --target test_threads test_errors test_isa_plan fuzz_conv2d_replay
	TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure -j$(JOBS) \
	    -R '^(test_threads|test_errors|test_isa_plan\.avx2|fuzz_corpus)$$'

# Memcheck on the Release build (valgrind runs the AVX2 path: it does not emulate AVX-512).
test-valgrind: build
	$(VALGRIND) $(BUILD)/tests/test_errors
	$(VALGRIND) $(BUILD)/tests/test_ukernels
	$(VALGRIND) $(BUILD)/tests/fuzz_conv2d_replay tests/fuzz/corpus tests/fuzz/regressions
	CONJURE_ARCH=avx2 $(VALGRIND) $(BUILD)/tests/test_isa_nan
	CONJURE_ARCH=avx2 $(VALGRIND) $(BUILD)/tests/test_isa_direct_rows

# New inputs go to a scratch directory (the corpus in the repo changes only by scripts/fuzz.sh).
test-fuzz:
	CC=clang cmake -S . -B build-fuzz $(SAN_FLAGS) -DCONJURE_SANITIZE=address,undefined -DCONJURE_BUILD_FUZZERS=ON \
	    -DCONJURE_THREADPOOL=builtin
	cmake --build build-fuzz -j$(JOBS) --target fuzz_conv2d
	rm -rf build-fuzz/new-inputs && mkdir -p build-fuzz/new-inputs
	build-fuzz/tests/fuzz_conv2d -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/ build-fuzz/new-inputs tests/fuzz/corpus tests/fuzz/regressions

# The Python package's tests (python/tests) on the library just built; those that need PyTorch skip,
# saying so, where it is not installed. A failing test fails the target.
test-python:
	@if ! $(PYTHON) -c 'import numpy, pytest' 2>/dev/null; then \
	    echo "test-python: skipped: $(PYTHON) lacks numpy or pytest (make deps installs python3-numpy, python3-pytest)"; \
	else \
	    $(PYTHON) -c 'import torch' 2>/dev/null || \
	        echo "test-python: PyTorch is not importable: its tests are skipped (apt-get install python3-torch)"; \
	    CONJURE_LIBRARY=$(abspath $(BUILD))/libconjure.so $(PYTHON) -m pytest python/tests -q -rs -p no:cacheprovider; \
	fi

# The main job: train a CNN on Fashion-MNIST (Debian's dataset-fashion-mnist, installed here if
# missing) with conjure's convolutions; the loss/accuracy curves land in conjure-train.svg.
demo:
	@bash scripts/install-deps.sh --demo
	@$(MAKE) --no-print-directory build
	$(CONJURE) train

# The benchmark suite, f32, every pass (against oneDNN and OpenBLAS when they were found).
bench: build
	$(CONJURE) bench --dtype f32 --pass fwd,bwd_data,bwd_weights $(COMPARE)

install:
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz

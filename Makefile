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

.PHONY: all deps build test test-python demo bench install clean

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
	rm -rf $(BUILD)

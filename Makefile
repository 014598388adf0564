# Two commands for a fresh machine: `make demo` (the main job) and `make test` (the tests).
# Both create or refresh .venv themselves.
#
# torch: on a CPU machine we install TORCH_SPEC first (this machine's pip takes the local CPU
# build torch==2.13.0), so that nothing later pulls the multi-GB CUDA wheels. On a CPU machine
# without that local file use e.g.
#   make demo TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
# GPU users: install CUDA torch into .venv first, then `make demo TORCH_SPEC=`.
#
# torchrec (the second embedding engine, `unirank train --sharded`) declares a dependency on
# fbgemm-gpu, whose CUDA wheel is ~0.5 GB. We install torchrec with --no-deps and its needs by
# hand, with fbgemm's CPU build on a CPU machine; GPU users: `make demo TORCH_SPEC= FBGEMM_SPEC=fbgemm-gpu==1.8.0`.
# A set known to work together (CPU: torch 2.13): torchrec 1.8.0, fbgemm-gpu(-cpu) 1.8.0.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
TORCHREC_SPEC ?= torchrec==1.8.0
FBGEMM_SPEC ?= fbgemm-gpu-cpu==1.8.0
TORCHREC_NEEDS := tensordict==0.15.3 torchmetrics==1.0.3 pyre-extensions==0.0.32 tqdm
BIN := $(VENV)/bin
STAMP := $(VENV)/.unirank-installed

.PHONY: demo test venv clean test-services

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install -q -e ".[dev]"
	if [ -n "$(TORCHREC_SPEC)" ]; then $(BIN)/python -m pip install -q --no-deps "$(TORCHREC_SPEC)" && \
	  $(BIN)/python -m pip install -q "$(FBGEMM_SPEC)" $(TORCHREC_NEEDS); fi
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/unirank search studies/quickstart.yaml
	$(BIN)/unirank report runs/quickstart
	$(BIN)/unirank export runs/quickstart

# Services some tests use (PostgreSQL for the concurrent-storage test, Chromium for the dashboard's
# browser test), installed from Debian's packages when we can (root with apt-get); otherwise those
# tests skip and say why.
DEBIAN_TEST_PACKAGES := $(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql) $(if $(wildcard /usr/bin/chromium),,chromium)
test-services:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -n "$(strip $(DEBIAN_TEST_PACKAGES))" ]; then \
	  apt-get install -y -q $(DEBIAN_TEST_PACKAGES) >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $(DEBIAN_TEST_PACKAGES) >/dev/null 2>&1) \
	  || echo "note: could not install $(DEBIAN_TEST_PACKAGES); their tests will skip"; fi

test: $(STAMP) test-services
	$(BIN)/python -m pytest -q

clean:
	rm -rf runs .pytest_cache

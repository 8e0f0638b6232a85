# The two set-up commands: `make demo` and `make test`. Both bootstrap .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rigorlab-installed
PYTEST_ARGS ?=
# torch: a CUDA build where the machine has an NVIDIA GPU; else TORCH_VERSION from pip's own
# configuration (its index, find-links, constraints), or from TORCH_INDEX_URL when set (an
# index that serves CPU builds).
TORCH_VERSION ?= 2.13.0
TORCH_INDEX_URL ?=

.PHONY: demo test bootstrap services-up services-down bench clean

bootstrap: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if ! $(PY) -c 'import torch' 2>/dev/null; then \
	  if command -v nvidia-smi >/dev/null 2>&1; then \
	    $(PY) -m pip install "torch>=2.4"; \
	  else \
	    $(PY) -m pip install "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX_URL),--index-url "$(TORCH_INDEX_URL)"); \
	  fi; \
	fi
	$(PY) -m pip install -q -e '.[test]'
	$(VENV)/bin/rigorlab warm-up
	@touch $(STAMP)

demo: bootstrap
	$(VENV)/bin/rigorlab demo

# Services are stopped whatever the suite's outcome; pytest's exit code is the target's.
test: bootstrap
	@bash tests/services/all.sh start || { bash tests/services/all.sh stop; exit 1; }
	@rc=0; $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	  bash tests/services/all.sh stop; \
	  exit $$rc

services-up: bootstrap
	bash tests/services/all.sh start

services-down:
	bash tests/services/all.sh stop

bench: bootstrap
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	bash tests/services/all.sh stop || true
	rm -rf .run .pytest_cache

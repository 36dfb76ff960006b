# psqlpy developer targets (GNU make).
#
#   make test                 venv (once) + in-place build + pytest
#   make test PYTEST_ARGS='-x -k listener'
#   make debug                bounds checks + line tracing build, then pytest
#   make annotate             Cython HTML annotation next to the .pyx files
#
# Tests start their own throwaway PostgreSQL (tests/pgcluster.py) unless
# PSQLPY_TEST_DSN points at a server.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
STAMP := $(VENV)/.psqlpy-installed
# Which flavour the in-place extension was last built as (fast | debug):
# switching flavour regenerates the C file, since cythonize only looks at mtimes.
MODE_FILE := build/.psqlpy-build-mode

.PHONY: all venv build test debug debug-build annotate demo bench clean distclean

all: build

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel 'Cython>=3.0.10'
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# $(1): fast | debug; $(2): extra environment
define build_ext
	@mkdir -p build
	@if [ "$$(cat $(MODE_FILE) 2>/dev/null)" != "$(1)" ]; then \
		echo "switching extension build to $(1)"; \
		find protocol -name '*.c' -print | xargs -r rm -f; \
		force=--force; \
	else force=; fi; \
	$(2) $(PY) setup.py build_ext --inplace -q $$force
	@echo $(1) > $(MODE_FILE)
endef

build: venv
	$(call build_ext,fast,)

debug-build: venv
	$(call build_ext,debug,PSQLPY_DEBUG=1)

test: build
	$(PY) -m pytest -q $(PYTEST_ARGS)

debug: venv
	@rm -f $(MODE_FILE)
	$(call build_ext,debug,PSQLPY_DEBUG=1)
	$(PY) -m pytest -q $(PYTEST_ARGS)

annotate: venv
	find protocol -name '*.c' -print | xargs -r rm -f
	PSQLPY_ANNOTATE=1 $(PY) setup.py build_ext --inplace -q --force
	@echo fast > $(MODE_FILE)
	@find protocol -name '*.html' -print

demo: build
	$(PY) examples/demo.py

bench: build
	@test -f benchmarks/run.py || { echo "benchmarks/run.py is not written yet"; exit 1; }
	$(PY) benchmarks/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis
	find protocol -name '*.c' -delete -o -name '*.html' -delete
	find psqlpy -name '*.so' -delete -o -name '*.pyd' -delete
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print | xargs -r rm -rf

distclean: clean
	rm -rf $(VENV)

# psqlpy developer targets (GNU make).
#
#   make test                 venv (once) + in-place build + pytest
#   make test PYTEST_ARGS='-x -k listener'
#   make debug                bounds checks + line tracing build, then pytest
#   make annotate             Cython HTML annotation next to the .pyx files
#   make test-pythons         the suite under each other CPython found (PYTHONS)
#   make test-upstream        the reference driver's own test suite, unchanged, against ours
#   make test-clients         the libraries built on the reference driver, on ours (compat/clients)
#   make dist                 sdist + a manylinux wheel per CPython found, checked (dist/)
#   make dist-check           each of them installed in a clean venv, smoke-tested
#   make docs                 the documentation site (MkDocs), warnings as errors -> build/site
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

.PHONY: all venv build test test-pythons test-upstream test-clients wheel dist dist-check docs debug debug-build annotate demo bench profile clean distclean

all: build

venv: $(STAMP)

# EXTRAS: the optional dependencies the venv gets (make demo uses `demo`, a
# much smaller set than the test toolchain, in its own venv).
EXTRAS ?= test
$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel 'Cython>=3.0.10'
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
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

# The suite under other CPythons (tools/find_python.sh finds them: PATH, then
# pyenv), each in its own .venv-X.Y; a version not found is skipped, loudly.
# The in-read Listener delivery leans on asyncio internals that differ between
# versions, and 3.10 has neither asyncio.Runner nor the same TLS transport.
PYTHONS ?= 3.10 3.12 3.13
test-pythons:
	@status=0; \
	for v in $(PYTHONS); do \
		py=$$(tools/find_python.sh $$v) || { echo "== Python $$v: not found, skipped"; continue; }; \
		echo "== Python $$v: $$py"; \
		$(MAKE) --no-print-directory test PYTHON=$$py VENV=.venv-$$v PYTEST_ARGS='$(PYTEST_ARGS)' \
			|| status=1; \
	done; exit $$status

# A wheel of the tree as it is built now (no build isolation: .venv has the
# build requirements), for the venvs that test ours as an installed package.
wheel: build
	rm -rf build/wheel
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w build/wheel .

# The reference driver's own test suite (../shared/upstream-psqlpy: its tests,
# unchanged, and run.sh, which starts its own TLS-enabled cluster) against ours
# installed in .venv-upstream, run from outside the source tree.
UPSTREAM_DIR ?= $(firstword $(wildcard ../shared/upstream-psqlpy /work/shared/upstream-psqlpy))
UPSTREAM_VENV ?= .venv-upstream
UPSTREAM_STAMP := $(UPSTREAM_VENV)/.requirements-installed
$(UPSTREAM_STAMP): compat/upstream-requirements.txt
	test -x $(UPSTREAM_VENV)/bin/python || $(PYTHON) -m venv $(UPSTREAM_VENV)
	$(UPSTREAM_VENV)/bin/python -m pip install -q -r compat/upstream-requirements.txt
	touch $@
test-upstream: wheel $(UPSTREAM_STAMP)
	@test -n "$(UPSTREAM_DIR)" -a -x "$(UPSTREAM_DIR)/run.sh" || \
		{ echo "test-upstream: no reference suite (set UPSTREAM_DIR=.../upstream-psqlpy)"; exit 2; }
	$(UPSTREAM_VENV)/bin/python -m pip install -q --force-reinstall --no-deps build/wheel/psqlpy-*.whl
	cd $(or $(TMPDIR),/tmp) && $(abspath $(UPSTREAM_DIR))/run.sh $(abspath $(UPSTREAM_VENV))/bin/python $(UPSTREAM_ARGS)

# The libraries built on the reference driver, as a user who switches drivers
# installs them: each in its own venv .venv-client-NAME with the library
# installed --no-deps (compat/clients/NAME/library.txt: they pin the reference's
# version ranges), its own dependencies pinned (requirements.txt) and ours from
# the wheel; then compat/clients/run.py runs every NAME's scenarios on one
# throwaway server. CLIENTS picks some (make test-clients CLIENTS=sqlalchemy),
# CLIENTS_ARGS goes to each pytest, CLIENTS_DRIVER=psqlpy==0.13.1
# CLIENT_VENV=.venv-refclient- runs them on the reference driver instead.
CLIENTS ?= sqlalchemy sqlspec taskiq-psqlpy taskiq-postgres otlp
CLIENT_VENV ?= .venv-client-
CLIENTS_DRIVER ?=
CLIENTS_ARGS ?=
$(CLIENT_VENV)%/.requirements-installed: compat/clients/%/requirements.txt compat/clients/%/library.txt
	test -x $(dir $@)bin/python || $(PYTHON) -m venv $(dir $@)
	$(dir $@)bin/python -m pip install -q -r compat/clients/$*/requirements.txt
	$(dir $@)bin/python -m pip install -q --no-deps -r compat/clients/$*/library.txt
	touch $@
test-clients: $(if $(CLIENTS_DRIVER),,wheel) $(foreach c,$(CLIENTS),$(CLIENT_VENV)$(c)/.requirements-installed)
	@for c in $(CLIENTS); do \
		$(CLIENT_VENV)$$c/bin/python -m pip install -q --force-reinstall --no-deps \
			$(or $(CLIENTS_DRIVER),build/wheel/psqlpy-*.whl) || exit 2; \
	done
	$(PY) compat/clients/run.py $(foreach c,$(CLIENTS),$(c)=$(CLIENT_VENV)$(c)/bin/python) -- $(CLIENTS_ARGS)

# What we distribute (tools/dist.sh): the sdist, then from it a wheel per CPython
# of DIST_PYTHONS found here, repaired by auditwheel, checked by twine and
# check-wheel-contents; dist-check installs each into a clean venv and runs
# tools/smoke_test.py from outside the tree against a throwaway cluster.
DIST_PYTHONS ?= 3.10 3.11 3.12 3.13
DIST_STAMP := $(VENV)/.psqlpy-dist-tools
$(DIST_STAMP): $(STAMP) tools/dist-requirements.txt
	$(PY) -m pip install -q -r tools/dist-requirements.txt
	touch $@
dist: $(DIST_STAMP)
	PYTHONS='$(DIST_PYTHONS)' tools/dist.sh $(PY)
dist-check: dist
	tools/dist_check.sh $(PY)

# The documentation site: docs/*.md plus an API reference that mkdocstrings reads
# from the code and its .pyi stubs (nothing is imported); `strict` in mkdocs.yml
# turns every warning (a broken link, an unknown reference) into an error.
DOCS_VENV ?= .venv-docs
$(DOCS_VENV)/.installed: tools/docs-requirements.txt
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install -q -r tools/docs-requirements.txt
	touch $@
docs: $(DOCS_VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict --quiet
	@echo "docs: build/site/index.html"

debug: venv
	@rm -f $(MODE_FILE)
	$(call build_ext,debug,PSQLPY_DEBUG=1)
	$(PY) -m pytest -q $(PYTEST_ARGS)

annotate: venv
	find protocol -name '*.c' -print | xargs -r rm -f
	PSQLPY_ANNOTATE=1 $(PY) setup.py build_ext --inplace -q --force
	@echo fast > $(MODE_FILE)
	@find protocol -name '*.html' -print

# The demo in its own venv with only what it needs (the build tools and the
# embedded server), so the first run takes seconds, not the test toolchain's minute.
DEMO_VENV ?= .venv-demo
demo:
	@$(MAKE) --no-print-directory build VENV=$(DEMO_VENV) EXTRAS=demo
	$(DEMO_VENV)/bin/python examples/demo.py

# Benchmarks (benchmarks/README.md): the `bench` extra's packages go into .venv
# without reinstalling the project; peers get their own venvs in .bench-venvs/.
#   make bench ARGS='--quick'            smoke run (small sizes, one round)
#   make bench ARGS='--drivers ours,asyncpg --workloads notify --rounds 5'
#   make profile WORKLOAD=fetch          flame graph: benchmarks/results/profile-fetch.svg
# Then the logical replication benchmark (benchmarks/bench_replication.py: ours,
# psycopg2's ReplicationCursor and the server's send rate), quick with --quick;
# REPL_ARGS='--rounds 5' to change it, BENCH_REPLICATION=0 to leave it out.
BENCH_STAMP := $(VENV)/.psqlpy-bench-installed
ARGS ?=
BENCH_REPLICATION ?= 1
REPL_ARGS ?= $(if $(findstring --quick,$(ARGS)),--quick,)
WORKLOAD ?= fetch

$(BENCH_STAMP): $(STAMP) pyproject.toml
	@mkdir -p build
	$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['bench']))" > build/bench-requirements.txt
	$(PY) -m pip install -q -r build/bench-requirements.txt
	touch $@

bench: build $(BENCH_STAMP)
	@status=0; $(PY) benchmarks/run.py $(ARGS) || status=1; \
	if [ "$(BENCH_REPLICATION)" = 1 ]; then \
		$(PY) benchmarks/bench_replication.py $(REPL_ARGS) || status=1; \
	fi; exit $$status

profile: build $(BENCH_STAMP)
	$(PY) benchmarks/run.py --profile $(WORKLOAD) $(ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis
	find protocol -name '*.c' -delete -o -name '*.html' -delete
	find psqlpy -name '*.so' -delete -o -name '*.pyd' -delete
	find . \( -path ./$(VENV) -o -path './.venv-*' -o -path ./.bench-venvs \) -prune -o -name __pycache__ -type d -print | xargs -r rm -rf

distclean: clean
	rm -rf $(VENV) .venv-*

# Coverage-guided fuzzing of the Cython parser and state machine (atheris):
#   make fuzz FUZZ_SECONDS=60          each target for FUZZ_SECONDS, normal build
#   make fuzz FUZZ_ASAN=1              clang-instrumented build (C edge coverage + ASan)
# Crashers land in tests/fuzz/corpus/crashers/ (replayed by test_fuzz_regressions.py);
# the growing working corpus stays in build/fuzz/ (tests/fuzz/fuzz_parser.py explains).
FUZZ_SECONDS ?= 60
FUZZ_ASAN ?=
FUZZ_TARGETS ?= reader core replication
.PHONY: fuzz
fuzz:
	@test -x $(PY) || { echo "run make build first"; exit 1; }
	$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q atheris
	@mkdir -p tests/fuzz/corpus/crashers $(addprefix build/fuzz/,$(FUZZ_TARGETS))
	@if [ -n "$(FUZZ_ASAN)" ]; then tests/fuzz/build_asan.sh; fi
	@status=0; \
	if [ -n "$(FUZZ_ASAN)" ]; then \
		env="PYTHONPATH=build/fuzz-asan ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
		     LD_PRELOAD=$$($(PY) -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so"; \
	else env=; fi; \
	for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
		env $$env $(PY) tests/fuzz/fuzz_parser.py $$t -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
			-artifact_prefix=tests/fuzz/corpus/crashers/$$t- \
			build/fuzz/$$t tests/fuzz/corpus/seeds/$$t || status=1; \
	done; exit $$status

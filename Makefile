# The two commands of the README, each doing its own set-up on a fresh machine.
#   make lab     open the course in JupyterLab (replay mode: no key, no network)
#   make test    run every notebook (nbval) and every unit test
#   make lint    ruff over lessonlib, tests, tools and the notebooks (.ci/run runs it before make test)
# and, for maintainers:
#   make record  re-record every cassette from the real APIs (keys in .env), then re-run the notebooks
#   make record-e2e  build llama-server (once per machine, ~7 min) and prove `make record` end to end against it
#   make cassettes   re-render the authored cassettes from tools/specs/
#   make bench   run the benchmarks
#   make lock    re-resolve requirements.in into the complete lock requirements.txt (UPGRADE=1: newest of all; UPGRADE=anthropic: newest of one)
#   make canary  run every notebook and unit test on the newest openai/anthropic/instructor, report changes
#
# Set-up installs the complete lock with --no-deps (see README "Versions" for why), using uv when it can
# (about 10x faster than pip here) and pip otherwise; both read the same requirements.txt. uv is told to
# --compile-bytecode, as pip does by default: without .pyc files (and with PYTHONDONTWRITEBYTECODE=1, as on
# this project's machines) every kernel and test process compiles openai and anthropic from source again,
# ~1.5 CPU-s each (bench/README.md, P7).
#   make site    build the course website into _site/ from the notebooks as stored (nothing re-executed)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
SITE_DIR ?= _site
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

$(BIN)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	{ $(BIN)/python -m pip install --quiet uv==$(UV_VERSION) && \
	  $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -r requirements.txt -e . ; } || \
	  $(BIN)/python -m pip install --quiet --no-deps -r requirements.txt -e .
	touch $@

.PHONY: install lab test lint record record-e2e cassettes bench doctor lock canary site
install: $(BIN)/.installed

lab: $(BIN)/.installed
	LESSON_MODE=$${LESSON_MODE:-replay} $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(ROOT_FLAG) notebooks/

test: $(BIN)/.installed
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .

record: $(BIN)/.installed
	LESSON_MODE=record $(BIN)/python tools/record_all.py $(NOTEBOOKS)

# tests/test_record_real.py: record 01 and 04 against a real local server, then nbval + doctor on a clean copy
REAL_UPSTREAM ?= ../shared/tools/real-upstream
record-e2e: $(BIN)/.installed
	$(REAL_UPSTREAM) build
	REAL_UPSTREAM=$(abspath $(REAL_UPSTREAM)) $(BIN)/python -m pytest -o addopts="-p no:cacheprovider" -rs -s tests/test_record_real.py

cassettes: $(BIN)/.installed
	$(BIN)/python tools/render_cassettes.py

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

doctor: $(BIN)/.installed
	$(BIN)/python -m lessonlib doctor

# rfc3987-syntax (and lark, which only it uses) are left out: jsonschema imports it, if present, to check the
# "iri" format, and it builds ~30 parsers at import: 1.3 s in every process that imports nbformat (JupyterLab,
# nbval, every test worker). Nothing here validates iri formats; README "Versions".
lock: $(BIN)/.installed
	$(BIN)/uv pip compile requirements.in --override requirements-overrides.txt --universal \
	  --python-version 3.11 --custom-compile-command "make lock" \
	  $(if $(filter 1,$(UPGRADE)),--upgrade,$(UPGRADE:%=--upgrade-package %)) \
	  --no-emit-package rfc3987-syntax --no-emit-package lark -q -o requirements.txt

canary: $(BIN)/.installed
	$(BIN)/python tools/canary.py $(CANARY_ARGS)
site: $(BIN)/.installed
	$(BIN)/python tools/build_site.py --out $(SITE_DIR)

# Microlend: the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

BENCH_STAMP = $(VENV)/.bench-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test install bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## Migrate ./microlend.db, load demo data once, print the URL and an admin key, serve on 127.0.0.1:8000.
run: install
	$(VENV)/bin/microlend demo run

## Lint, then the whole test suite (SQLite always; PostgreSQL too when MICROLEND_TEST_DATABASE_URL is set).
test: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest --cov=microlend --cov-report=term:skip-covered $(PYTEST_ARGS)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@rm -f $(VENV)/.bench-*
	@touch $(BENCH_STAMP)

## Speed and quality figures (see docs/benchmarks.md; the COB benchmark at 1,000,000 loans: benchmarks/cob.py --loans 1000000).
bench: $(BENCH_STAMP)
	$(PY) benchmarks/quotes.py
	$(PY) benchmarks/servicing.py
	$(PY) benchmarks/cob.py --loans 100000
	$(PY) benchmarks/scoring.py
	$(PY) benchmarks/scoring_quality.py
	$(PY) benchmarks/rules.py
	$(PY) benchmarks/decisions.py  # needs PostgreSQL on 127.0.0.1:5432 (see --postgres)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .coverage

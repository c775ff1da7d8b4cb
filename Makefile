# The two commands of the README's quick start, each setting itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit clean fuzz soak bench cluster cluster-soak

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pourtier serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest-xdist: TEST_WORKERS processes, each on its own migrated database;
# TEST_WORKERS=0 runs the suite in this one process, one test at a time.
TEST_WORKERS ?= auto
test: lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) --cov --cov-report=term

# The API fuzz of the test suite, longer: FUZZ_EXAMPLES per operation and mode.
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/integration/test_fuzz.py -q

# Many wallets against one server on real PostgreSQL and Redis, then the books.
SOAK_SECONDS ?= 60
SOAK_WALLETS ?= 40
soak: $(STAMP)
	$(BIN)/python bench/soak.py --duration $(SOAK_SECONDS) --wallets $(SOAK_WALLETS)

# The scaled-out topology on 127.0.0.1 (nginx, two replicas, PgBouncer, two
# workers, Prometheus) until Ctrl-C; CLUSTER_ARGS=--check checks it and stops.
CLUSTER_ARGS ?=
cluster: $(STAMP)
	$(BIN)/python bench/cluster.py $(CLUSTER_ARGS)

# The cluster under SOAK_WALLETS wallets for SOAK_SECONDS while replicas, a
# worker, PgBouncer, Redis and the chain fail on a schedule; then the books.
cluster-soak: $(STAMP)
	$(BIN)/python bench/cluster_soak.py --duration $(SOAK_SECONDS) --wallets $(SOAK_WALLETS)

# The service under wrk beside a bare FastAPI ceiling: bench/results/latest.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage

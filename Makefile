# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test unit lint fuzz bench bench-fanout bench-bets bench-peers soak cluster clean

$(STAMP): pyproject.toml
	bash scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/oddsgate serve

test: $(STAMP)
	bash scripts/test-prereqs.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# The fuzz test at length: random (not the fixed examples of `make test`), 2,000 per route.
fuzz: $(STAMP)
	ODDSGATE_FUZZ_EXAMPLES=$${ODDSGATE_FUZZ_EXAMPLES:-2000} ODDSGATE_FUZZ_RANDOM=1 $(BIN)/pytest tests/integration/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-fanout: $(STAMP)
	$(BIN)/python bench/fanout.py

bench-bets: $(STAMP)
	$(BIN)/python bench/bets.py

bench-peers: $(STAMP)
	$(BIN)/python bench/peers/run.py

# Soak and faults on the cluster topology: 10 minutes of load, Redis restarted, a reader killed,
# feeds dropped, stalled clients (bench/soak.py; --quick for a smoke run).
soak: $(STAMP)
	$(BIN)/python bench/soak.py

# The docker-compose topology here, without Docker: Redis, PostgreSQL, a pricer, readers, HAProxy.
cluster: $(STAMP)
	bash scripts/test-prereqs.sh
	$(BIN)/python -m tests.support.cluster --demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info oddsgate.db* oddsgate-journal

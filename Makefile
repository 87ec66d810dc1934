# The two commands of the README: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export GX_ANALYTICS_ENABLED := false

.PHONY: install demo serve test test-fast lint typecheck format clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

## the hub end to end on its embedded defaults: simulator -> connector -> gateway -> Kafka
demo: install
	$(BIN)/fdxp demo

## the demo, then the gateway stays up on :8000 for /docs
serve: install
	$(BIN)/fdxp demo --serve --port 8000

## the whole suite: unit and integration tests, real broker, SQLite and PostgreSQL
test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check gateway catalog

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format gateway catalog schemas connectors simulators tests
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info

# The two commands a new user needs: `make demo` and `make test`.
# Both set everything up first (system packages when root, .venv, CPU PyTorch).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.move-installed
TEST_STAMP := $(VENV)/.move-test-installed
DEMO_OUT ?= out/demo

.PHONY: setup demo test test-fast lint bench clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/move demo --out $(DEMO_OUT)

$(TEST_STAMP): $(STAMP)
	bash scripts/setup.sh --test
	touch $(TEST_STAMP)

# ruff, then the import contracts in .importlinter (audio a leaf, applications on top).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

test: lint $(TEST_STAMP)
	$(BIN)/python -m pytest

# the suite without the end-to-end tests marked slow (about 45 s on 2 cores)
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/frontends.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

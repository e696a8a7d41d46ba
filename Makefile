# The two commands of the README: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test check lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# setuptools warns at every editable install that a folder named like the package (here alertd/ itself) may be
# imported instead of the installed one: true of every checkout, and harmless here, so that one notice is silenced.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(QUIET_EDITABLE) $(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(QUIET_EDITABLE) $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

# One full cycle on the bundled example config: poll the sample feeds, match, write emails into the Maildir.
run: $(VENV)/.installed
	$(BIN)/alertd --log-level warning -c config/alertd.yaml run --once --print-links
	@echo "emails: $$(ls var/maildir/new | wc -l) files in var/maildir/new (read one: less var/maildir/new/<file>)"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

# The edit loop: lint, then every test but those marked slow (make test, which CI runs, runs them all).
check: lint
	$(BIN)/pytest -q -m 'not slow'

# Every fuzz target (fuzz/targets.py) for a minute, the parsing libraries instrumented too; `make test` runs them for
# a few seconds each (tests/intake/test_fuzz_run.py). FUZZ_SECONDS=600 make fuzz for a long run.
FUZZ_SECONDS ?= 60
fuzz: $(VENV)/.installed-test
	$(BIN)/python fuzz/run.py --deep --seconds $(FUZZ_SECONDS)

bench: $(VENV)/.installed-test
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf var .mypy_cache .ruff_cache .pytest_cache

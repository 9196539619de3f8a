# One command to install and materialize everything (`make run`), one to test (`make test`).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export DAGSTER_DISABLE_TELEMETRY ?= 1
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install run test validate dev

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	# torch is pinned in the same resolve (otherwise pip pulls a multi-GB CUDA build); the lock file
	# pins the rest so the resolve is fast and reproducible.
	$(BIN)/pip install --quiet torch==2.13.0 -c requirements.lock -e '.[dev]'
	touch $@

install: $(BIN)/.installed

$(DAGSTER_HOME):
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml.example $(DAGSTER_HOME)/dagster.yaml

run: install $(DAGSTER_HOME)
	$(BIN)/python -m llm_pipeline_assets.materialize

test: install
	$(BIN)/python -m pytest -q

validate: install
	$(BIN)/dagster definitions validate -m llm_pipeline_assets.definitions

dev: install $(DAGSTER_HOME)
	$(BIN)/dagster dev -w workspace.yaml

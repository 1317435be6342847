# Two commands matter: `make run` (the local service) and `make test` (lint, types, tests).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAGE ?= prod

.PHONY: install run test lint typecheck pytest bench deploy package lint-stack clean

# The client and the `cronhook` command (client/) go in editable, their pins being in
# requirements-dev.txt; setuptools of the venv builds them offline when it has one.
# requirements-compat.txt (a cron-job.org client the tests drive) goes in without its pinned
# dependencies, which are not what its code imports.
$(STAMP): requirements.txt requirements-dev.txt requirements-compat.txt client/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check pip==26.2.1
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -r requirements-compat.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps \
		$$($(BIN)/python -c 'import setuptools' 2>/dev/null && echo --no-build-isolation) -e ./client
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	exec $(BIN)/python -m scripts.local

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers, whole modules each (module-scoped stacks are started once): ~7 minutes on 2 cores
# instead of ~11. One test: `.venv/bin/python -m pytest tests/test_x.py -k name`.
pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# `make deploy STAGE=prod [CAPACITY=provisioned]`: package (offline) into build/$(STAGE), then
# deploy the one CloudFormation stack cronhook-$(STAGE) with the AWS CLI (README, "Deploy").
package: $(STAMP)
	$(BIN)/python -m scripts.package --stage $(STAGE) --out build/$(STAGE)

# `make lint-stack [STAGE=prod]`: package, then cfn-lint and checkov on build/$(STAGE)/sam.json.
# They live in a venv of their own (checkov pins a boto3 older than ours); not part of `make test`.
LINTVENV := .lintvenv
LINTSTAMP := $(LINTVENV)/.installed
$(LINTSTAMP):
	@test -x $(LINTVENV)/bin/python || $(PYTHON) -m venv $(LINTVENV)
	$(LINTVENV)/bin/python -m pip install -q --disable-pip-version-check cfn-lint==1.58.0 checkov==3.3.30
	@touch $(LINTSTAMP)

lint-stack: package $(LINTSTAMP)
	$(LINTVENV)/bin/cfn-lint build/$(STAGE)/sam.json
	$(LINTVENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		-f build/$(STAGE)/sam.json

deploy: $(STAMP)
	@command -v aws >/dev/null || { echo "make deploy needs the AWS CLI (v2): see README, Deploy"; exit 1; }
	$(BIN)/python -m scripts.package --stage $(STAGE) --out build/$(STAGE) --deploy $(if $(ARTIFACT_BUCKET),--artifact-bucket $(ARTIFACT_BUCKET)) $(if $(CAPACITY),--capacity $(CAPACITY))

clean:
	rm -rf $(VENV) $(LINTVENV) .pytest_cache .mypy_cache .ruff_cache

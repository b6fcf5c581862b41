# The two commands: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)

# Local development defaults; every other setting has a safe default under DEBUG.
export DEBUG ?= 1
export PYTHONUNBUFFERED := 1

.PHONY: run test install lint typecheck lock clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "  Admin       http://127.0.0.1:8000/admin/"
	@echo "  Console     http://127.0.0.1:8000/partner-admin/"
	@echo "  Apply       http://127.0.0.1:8000/partners/apply/"
	@echo "  API docs    http://127.0.0.1:8000/api/docs/"
	@echo "  Health      http://127.0.0.1:8000/healthz"
	@echo "  Ctrl-C stops the web server, the worker and beat."
	@echo
	exec $(BIN)/honcho start -f Procfile.dev

test: install
	@mkdir -p var
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# Re-pin after editing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache

# OK Wallet — `make run` starts everything on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PORT ?= 8000
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2

.PHONY: install run test lint format messages migrate demo cluster clean lock

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed (looked for $(PYTHON))"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo

run: demo
	@echo ""
	@echo "  OK Wallet is starting on http://127.0.0.1:$(PORT)  (agent console: http://127.0.0.1:$(PORT)/console/)"
	@echo ""
	OKWALLET_LOG_FORMAT=$${OKWALLET_LOG_FORMAT:-plain} $(VENV)/bin/honcho --procfile Procfile start --port $(PORT)

# The production shape on one machine: PostgreSQL + Redis, three app processes behind scripts/lb.py,
# two job workers (and every other process of Procfile.cluster). Needs DATABASE_URL and REDIS_URL.
cluster: install
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" || { echo "make cluster needs DATABASE_URL and REDIS_URL (see docs/operations.md)"; exit 1; }
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "  OK Wallet cluster on http://127.0.0.1:$(PORT) (3 app processes behind scripts/lb.py)"
	$(VENV)/bin/honcho --procfile Procfile.cluster start --port $(PORT)

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

messages: install
	bash scripts/i18n.sh

# requirements.lock: every dependency pinned with hashes (pip-tools), recorded for audits; refresh
# after changing pyproject.toml. No advisory database is reachable here, so nothing checks it online.
lock:
	@test -x /tmp/okw-piptools/bin/pip-compile || { $(PYTHON) -m venv /tmp/okw-piptools && /tmp/okw-piptools/bin/pip install --quiet pip-tools; }
	/tmp/okw-piptools/bin/pip-compile --quiet --generate-hashes --extra test --extra dev --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

clean:
	rm -rf var/test test-output .pytest_cache

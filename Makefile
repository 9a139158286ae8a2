# bankcrm: `make demo` runs the demo bank, `make test` runs every test.
# Needs GNU make and Python 3.11+ only; everything else goes into .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
BANKCRM := $(BIN)/bankcrm
# The stamp's name changes whenever the lock file or pyproject.toml does, so `make install`
# reinstalls exactly then and is a no-op otherwise.
INSTALL_HASH := $(shell cat requirements/lock.txt pyproject.toml 2>/dev/null | $(PYTHON) -c "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])")
STAMP := $(VENV)/.installed-$(INSTALL_HASH)
# Bootstrap 5.3 comes from PyPI as an sdist whose setup.py imports pkg_resources, which
# setuptools dropped in version 81: it is built without isolation, against setuptools<81.
XSTATIC_BOOTSTRAP := XStatic-Bootstrap==5.3.8.0
DEFAULT_TEST_DATABASE_URL := postgres://postgres@127.0.0.1:5432/bankcrm
PRODUCTION_CHECK_HOSTS := crm.bank.example
# `make lint` runs every check even when an earlier one fails (make -k); any failure fails it.
LINT_STEPS := lint-ruff lint-format lint-mypy lint-deploy lint-migrations lint-bandit

.DEFAULT_GOAL := help
.PHONY: help install cjk-font demo test lint bench clean $(LINT_STEPS)

help:
	@echo "make demo    install, create the demo bank, serve it on 127.0.0.1:$${BANKCRM_PORT:-8000}"
	@echo "make test    install, run the tests on SQLite, then on PostgreSQL when one answers"
	@echo "make lint    ruff, mypy, Django's deployment checks, migrations check, bandit"
	@echo "make install create .venv and install the pinned dependencies (idempotent)"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make clean   remove .venv and caches (keeps var/: database and keyring)"

install: $(STAMP) cjk-font

# PDF exports print Chinese (customer names, branch names) and need a font with its glyphs;
# WeasyPrint finds it through fontconfig. Debian's fonts-wqy-microhei is installed when no
# font covers Chinese and we are root (CI, the demo machine); otherwise the command to run
# is printed (the PDF test fails loudly without it).
CJK_FONT_PACKAGE := fonts-wqy-microhei

cjk-font:
	@if command -v fc-list >/dev/null 2>&1 && [ -n "$$(fc-list :lang=zh family 2>/dev/null)" ]; then \
		exit 0; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo ">> installing a Chinese font for PDF exports ($(CJK_FONT_PACKAGE))"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q $(CJK_FONT_PACKAGE) >/dev/null 2>&1 || \
			{ apt-get update -q >/dev/null && apt-get install -y -q $(CJK_FONT_PACKAGE) >/dev/null; } || \
			echo "!! $(CJK_FONT_PACKAGE) could not be installed: PDF exports will show no Chinese."; \
	else \
		echo "!! no font with Chinese characters: PDF exports need one. Run:"; \
		echo "     sudo apt-get install -y $(CJK_FONT_PACKAGE)   # or fonts-noto-cjk"; \
	fi

$(STAMP):
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { \
		echo "bankcrm needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)."; \
		echo "Run: make PYTHON=python3.11 ..."; exit 1; }
	@if [ ! -x $(BIN)/python ] || ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
		if ! $(PYTHON) -c "import ensurepip, venv" >/dev/null 2>&1; then \
			echo "Python's venv/ensurepip is missing. On Debian/Ubuntu install it with:"; \
			echo "    sudo apt-get install -y python3-venv   # or python3.11-venv"; \
			exit 1; fi; \
		echo ">> creating $(VENV)"; \
		rm -rf $(VENV); \
		$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
			echo "Creating $(VENV) failed. On Debian/Ubuntu run: sudo apt-get install -y python3-venv"; \
			exit 1; }; \
	fi
	@echo ">> installing dependencies into $(VENV)"
	$(PIP) install -q "setuptools<81" wheel
	$(PIP) install -q -r requirements/lock.txt
	$(PIP) install -q --no-build-isolation $(XSTATIC_BOOTSTRAP)
	$(PIP) install -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo ">> $(VENV) is ready"

demo: install
	$(BANKCRM) migrate --noinput -v 0
	$(BANKCRM) demo --customers $${BANKCRM_DEMO_CUSTOMERS:-2000} --seed 1
	$(BANKCRM) serve --port $${BANKCRM_PORT:-8000}

# The suite runs on SQLite, then on PostgreSQL when BANKCRM_TEST_DATABASE_URL is set or a
# server answers on 127.0.0.1:5432; CI (CI=true) insists on PostgreSQL. Both passes run even
# when the first fails; any failure fails `make test`. Nothing is printed after the last
# pytest, so the run ends with pytest's summary line.
test: install
	@set -e; \
	pg_url="$${BANKCRM_TEST_DATABASE_URL:-}"; \
	if [ -z "$$pg_url" ] && $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1).close()" 2>/dev/null; then \
		pg_url="$(DEFAULT_TEST_DATABASE_URL)"; \
	fi; \
	if [ -n "$$pg_url" ]; then \
		echo ">> tests: SQLite, then PostgreSQL ($$pg_url)"; \
	elif [ -n "$${CI:-}" ] && [ "$${CI}" != "false" ]; then \
		echo "CI needs PostgreSQL on 127.0.0.1:5432 (or BANKCRM_TEST_DATABASE_URL); none answers." >&2; \
		exit 1; \
	else \
		echo ">> tests: SQLite only (no PostgreSQL on 127.0.0.1:5432; set BANKCRM_TEST_DATABASE_URL to use one)"; \
	fi; \
	echo ">> pytest on SQLite"; \
	sqlite_status=0; \
	env -u BANKCRM_DATABASE_URL $(BIN)/pytest -q $(PYTEST_ARGS) || sqlite_status=$$?; \
	if [ -n "$$pg_url" ]; then \
		if [ $$sqlite_status -ne 0 ]; then \
			echo ">> the SQLite pass FAILED (exit $$sqlite_status, see above); running PostgreSQL anyway"; \
		fi; \
		echo ">> pytest on PostgreSQL"; \
		BANKCRM_DATABASE_URL="$$pg_url" $(BIN)/pytest -q $(PYTEST_ARGS) || exit $$?; \
	fi; \
	exit $$sqlite_status

lint: install
	@$(MAKE) --no-print-directory -k $(LINT_STEPS)

lint-ruff:
	$(BIN)/ruff check src tests

lint-format:
	$(BIN)/ruff format --check src tests

lint-mypy:
	$(BIN)/mypy $$(find src -name 'services*.py' -o -name 'selectors*.py' | sort)

lint-deploy:
	@echo ">> bankcrm check --deploy (production settings)"
	@env -u BANKCRM_DEBUG BANKCRM_ENV=production BANKCRM_ALLOWED_HOSTS=$(PRODUCTION_CHECK_HOSTS) \
		BANKCRM_SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
		$(BANKCRM) check --deploy --fail-level WARNING

lint-migrations:
	env -u BANKCRM_DATABASE_URL $(BANKCRM) makemigrations --check --dry-run

lint-bandit:
	$(BIN)/bandit -c pyproject.toml -r src -q

bench: install
	@set -e; found=0; \
	for script in bench/*.py; do \
		[ -e "$$script" ] || continue; found=1; \
		echo ">> $$script"; $(BIN)/python "$$script"; \
	done; \
	[ $$found = 1 ] || echo "no benchmarks in bench/"

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache test-artifacts
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "var/ (database, keyring, demo password) is kept; remove it yourself to start over."

# VoucherHub: `make run` serves the demo on http://127.0.0.1:8000/, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
HOST   ?= 127.0.0.1:8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/voucherhub
REDIS_URL ?= redis://127.0.0.1:6379/1
PYTEST_ARGS ?= -n 2
SIMULATOR_ADDR ?= 127.0.0.1:8900
SIMULATOR ?=

.PHONY: run test install serve migrate seed system-deps messages lint bench-import clean

# The demo: the site, its job cluster and the supplier simulator the demo suppliers point at (supply/demo.py);
# `serve` inherits SIMULATOR from this target (`make serve` alone runs without the simulator).
run: SIMULATOR = $(SIMULATOR_ADDR)
run: install .env migrate seed serve

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	@touch $@

.env:
	$(BIN)/python -m voucherhub.core.envfile .env

migrate: install .env
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

# The demo as its users see it: DEBUG off (the branded 404/403/500 pages), static files from WhiteNoise,
# the sandbox payment on. voucherhub/core/serve.py runs the web server and the job cluster (and with
# SIMULATOR=host:port the supplier simulator) and stops them all on Ctrl-C or SIGTERM.
serve:
	@echo "VoucherHub: http://$(HOST)/  (logins above; Ctrl-C stops the web server and the job cluster)"
	@$(if $(SIMULATOR),echo "Supplier simulator: http://$(SIMULATOR)/  (the demo suppliers; stops with the server)",true)
	@DEBUG=false PAYMENT_SANDBOX=true exec $(BIN)/python -m voucherhub.core.serve $(HOST)$(if $(SIMULATOR), --simulator $(SIMULATOR))

# Debian's chromium and CJK fonts for the browser tests (never a downloaded browser), gettext for
# the translation-completeness test.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v msgfmt >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
		echo "installing Debian chromium, fonts-noto-cjk and gettext"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk gettext >/dev/null; \
	fi

# The suite runs on PostgreSQL and Redis when they answer (CI always has them).
test: install system-deps
	@set -e; \
	if $(BIN)/python -c "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/postgres', connect_timeout=3).close()" 2>/dev/null; then \
		export DATABASE_URL="$${DATABASE_URL:-$(PG_URL)}"; echo "tests on PostgreSQL: $$DATABASE_URL"; \
	else \
		echo "PostgreSQL is not answering: tests on SQLite (PostgreSQL-only tests skip, or fail under CI=true)"; \
	fi; \
	if $(BIN)/python -c "import redis; redis.Redis.from_url('$(REDIS_URL)', socket_connect_timeout=2).ping()" 2>/dev/null; then \
		export CACHE_URL="$${CACHE_URL:-$(REDIS_URL)}"; echo "cache on Redis: $$CACHE_URL"; \
	fi; \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Refresh every .po (the project's and each app's) and compile them; translate, then run again.
messages: install system-deps
	$(BIN)/python manage.py makemessages -l zh_Hans --no-obsolete -i ".venv/*" -i "var/*" -i "tests/*" -i "bench/*" -i "staticfiles/*"
	$(BIN)/python manage.py compilemessages -l zh_Hans -i ".venv" -i "var"

lint:
	$(BIN)/ruff check .

bench-import: install
	DATABASE_URL="$${DATABASE_URL:-$(PG_URL)}" $(BIN)/python bench/import_codes.py --count 200000

clean:
	rm -rf var staticfiles .pytest_cache

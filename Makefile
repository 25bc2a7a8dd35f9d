# The two front doors: `make demo` and `make test`. Both install what is missing first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
VENDOR := dashboard/static/vendor

.PHONY: install demo test lint format bench clean

install: $(VENV)/.installed $(VENDOR)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

$(VENDOR)/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node 18+) is needed for the front-end libraries"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/socket.io-client/dist/socket.io.min.js $(VENDOR)/
	mkdir -p $(VENDOR)/leaflet
	cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/dist/images $(VENDOR)/leaflet/
	cp node_modules/leaflet.markercluster/dist/leaflet.markercluster.js node_modules/leaflet.markercluster/dist/MarkerCluster.css node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css $(VENDOR)/leaflet/
	touch $@

demo: install
	$(PY) -m devtools.demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Two workers, each taking a whole test file at a time: every file starts real processes of its
# own (Redis, the demo Frappe, gunicorn, the bridge, Chromium) and keeps its tests' order.
test: lint
	$(PY) -m pytest -n 2 --dist loadfile

# Loads go to 127.0.0.1 only. Options: make bench BENCH_ARGS="fanout --clients 1000 --rooms 100"
bench: install
	@{ command -v wrk && command -v nginx; } >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk nginx-light; }
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var .pytest_cache

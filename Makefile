# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := data/demo
CUSTOMERS ?= 100000
SEED ?= 7

.PHONY: demo test env data reports lab bench check-reports chromium clean

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	$(BIN)/python -c "from workbench.reports import ensure_kernel; ensure_kernel()"
	touch $(STAMP)

data: $(DEMO)/truth.json

$(DEMO)/truth.json: $(STAMP)
	$(BIN)/workbench simulate --customers $(CUSTOMERS) --seed $(SEED) --out $(DEMO)

reports: $(STAMP) $(DEMO)/truth.json
	$(BIN)/workbench run schedules/daily.yml --data $(DEMO) --skip-up-to-date

demo: reports
	@echo "Reports: $(abspath reports/index.html)"

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

check-reports: $(STAMP) chromium
	$(BIN)/python -m workbench.browser --reports reports

chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = "0" ] && apt-get update -qq && \
		apt-get install -y -qq chromium fonts-noto-cjk; } || { echo "install Debian's chromium package"; exit 1; }

lab: $(STAMP) $(DEMO)/truth.json
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) reports data/demo

# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark
DEMO := data/demo
# A second brand as its servers would have logged it (WeCom callbacks, API snapshots...), ingested into the
# contract: the data-quality report shows what the ingest repaired.
RAW := data/raw-brand
INGESTED := data/ingested
CUSTOMERS ?= 100000
SEED ?= 7

.PHONY: demo test env env-spark data ingested reports lab bench check-reports chromium clean

# The demo needs no PySpark (or Java): `make demo` installs `.[dev]` only.
env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -c "from workbench.reports import ensure_kernel; ensure_kernel()"
	touch $(STAMP)

# The tests also run every engine transform on Spark: `make test` adds the `spark` extra.
env-spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

data: $(DEMO)/truth.json

$(DEMO)/truth.json: $(STAMP)
	$(BIN)/workbench simulate --customers $(CUSTOMERS) --seed $(SEED) --out $(DEMO)

$(RAW)/truth.json: $(STAMP)
	$(BIN)/workbench simulate --customers 20000 --seed $(SEED) --out $(RAW) --raw --raw-snapshot-days 7

$(INGESTED)/ingest_report.json: $(RAW)/truth.json
	$(BIN)/workbench ingest wecom --events $(RAW)/raw/callbacks.jsonl --snapshot $(RAW)/raw/snapshots.jsonl \
		--behavior $(RAW)/raw/behavior.jsonl --bills $(RAW)/raw/bills.jsonl \
		--mass-sends $(RAW)/raw/mass_sends.jsonl --tables $(RAW)/raw/tables --out $(INGESTED)

ingested: $(INGESTED)/ingest_report.json

reports: $(STAMP) $(DEMO)/truth.json $(INGESTED)/ingest_report.json
	$(BIN)/workbench run schedules/demo.yml --data $(DEMO) --skip-up-to-date
	$(BIN)/workbench run schedules/ingested.yml --data $(INGESTED) --skip-up-to-date

demo: reports
	@echo "Reports: $(abspath reports/index.html)"

# Lint (ruff, numpydoc docstrings) over the package and the benchmarks, then the doctests in the package,
# then the test suite.
test: $(SPARK_STAMP)
	$(BIN)/ruff check src benchmarks
	$(BIN)/python -m pytest -p no:xdist -q --doctest-modules src/workbench
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
	rm -rf $(VENV) reports $(DEMO) $(RAW) $(INGESTED)

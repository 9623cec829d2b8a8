# salesplan: the two commands of the README are `make plan` and `make test`.
# Both create .venv when missing and install the project (pinned by requirements.lock).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.salesplan-installed
PERIOD ?= 2027Q1
DEMO    = duckdb:///data/demo/salesplan_demo.duckdb
BENCHES = forecast calibration credit churn allocation targets
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: help install plan test lab demo-data refresh-notebooks lint bench bench-scale $(addprefix bench-,$(BENCHES)) clean

help:
	@echo "make plan   - set up .venv and run the quarterly plan on the bundled demo data"
	@echo "make test   - set up .venv and run all tests (unit, notebooks with nbval, browser)"
	@echo "make lab    - open JupyterLab on notebooks/"
	@echo "make demo-data - rebuild data/demo from the generator (seed 7)"
	@echo "make refresh-notebooks - re-execute notebooks/ in place (after the data or a model changed)"
	@echo "make bench  - run the benchmarks (prints tables; see benchmarks/RESULTS.md)"

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name salesplan --display-name "salesplan (Python 3.11)" >/dev/null
	$(BIN)/python -c "from salesplan.models.forecast import _ets_kernels as k; k.warm_up()"  # compile the ETS fit kernels once
	$(BIN)/python -m compileall -q salesplan  # byte-code written once (PYTHONDONTWRITEBYTECODE machines recompile it in every process)
	@touch $(STAMP)

install: $(STAMP)

plan: $(STAMP)
	@start=$$(date +%s.%N); \
	$(BIN)/salesplan validate $(DEMO) --as-of 2026-12-31 --no-summary && \
	$(BIN)/salesplan run --period $(PERIOD) --source $(DEMO) --no-check && \
	$(BIN)/salesplan approve latest --by "demo (make plan)" --note "the demo's plan of record" && \
	$(BIN)/salesplan run --period $(PERIOD) --source $(DEMO) -n 06 --no-downstream --no-check; status=$$?; \
	awk -v s=$$start -v e=$$(date +%s.%N) 'BEGIN { printf "make plan: %.0f s wall (validate, run, approve, weekly review)\n", e - s }'; \
	exit $$status

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

demo-data: $(STAMP)
	$(BIN)/salesplan demo-data --out data/demo

refresh-notebooks: $(STAMP)
	$(BIN)/python -m salesplan.reports.refresh_notebooks

lint: $(STAMP)
	$(BIN)/ruff check salesplan tests benchmarks

# benchmarks print tables; their figures are recorded in benchmarks/RESULTS.md
bench: $(addprefix bench-,$(BENCHES))

bench-forecast: $(STAMP)
	$(BIN)/python benchmarks/forecast_m3.py --repeats 3

bench-calibration: $(STAMP)
	$(BIN)/python benchmarks/forecast_calibration.py

bench-credit: $(STAMP)
	$(BIN)/python benchmarks/credit_german.py --seeds 0,1,2

bench-churn: $(STAMP)
	$(BIN)/python benchmarks/churn_cdnow.py --repeats 3

bench-allocation: $(STAMP)
	$(BIN)/python benchmarks/allocation_demo.py

bench-targets: $(STAMP)
	$(BIN)/python benchmarks/targets_calibration.py

bench-pipeline: $(STAMP)
	$(BIN)/python benchmarks/pipeline_scoring.py --seeds 20 --quarters 4 --cal-seeds 5

# scale 1 and 10, local vs Dask: 15-20 minutes, not part of `bench`
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py --scales 1 10 --dask

clean:
	rm -rf $(VENV) .pytest_cache reports .cache

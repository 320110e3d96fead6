# The two commands of the README:
#   make demo   build the environment, then run the whole workflow on the embedded demo
#   make test   build the environment, then run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
# The workflow's rules call `writing-alpaca`, so the venv's bin/ must be on PATH.
RUN    := PATH="$(BIN):$$PATH"

.PHONY: env demo rehearsal report lint test clean-demo

env: $(STAMP)

$(STAMP): pyproject.toml requirements/dev.txt requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	# torch first and alone, so that no other package pulls a different build
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -c requirements/constraints.txt -r requirements/dev.txt
	$(BIN)/pip install -c requirements/constraints.txt --no-deps -e .
	touch $@

# prints the workflow's own elapsed time at the end (the environment's build is not in it)
demo: $(STAMP)
	@start=$$(date +%s); $(RUN) snakemake all --profile profiles/local --configfile demo/config.yaml; rc=$$?; \
	elapsed=$$(( $$(date +%s) - start )); \
	echo "make demo: the workflow took $$((elapsed / 60)) min $$((elapsed % 60)) s (exit $$rc)"; exit $$rc

# the paper's whole DAG on ../shared/data and full-size stand-ins, tiny models (rehearsal/config.yaml)
rehearsal: $(STAMP)
	$(RUN) snakemake all --profile profiles/local --configfile rehearsal/config.yaml

# the demo's tables and figures with captions in one self-contained HTML file
report: demo
	$(RUN) snakemake --report results/report.html --configfile demo/config.yaml

# ruff (lint and format) and snakefmt: `make test` (and so .ci/run) runs them before the tests
lint: $(STAMP)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) snakefmt --check Snakefile workflow/rules

test: lint
	$(RUN) pytest tests

clean-demo:
	find results resources -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf logs .snakemake

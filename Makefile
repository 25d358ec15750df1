# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
DEMO_SEQUENCES ?= 12

.PHONY: demo test lint bench-sim clean-demo system-tools

# torch is installed first and pinned to the CPU wheel on this machine's disk, so that no dependency can pull
# a multi-GB CUDA build; the project range (torch>=2.8,<2.15) is then already satisfied.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	@touch $(STAMP)

# dciodvfy (dicom3tools) validates every DICOM the tests write; Orthanc is the PACS of the C-STORE test.
# Installed with apt when missing (as root, or with passwordless sudo); without them those tests skip locally
# and fail in CI (.ci/run sets ELASTO_REQUIRE_TOOLS=1).
system-tools:
	@if ! command -v dciodvfy >/dev/null 2>&1 || ! test -x /usr/sbin/Orthanc; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
		else echo "system-tools: need root or sudo to apt-get install dicom3tools orthanc"; exit 0; fi; \
		echo "apt-get install dicom3tools orthanc"; \
		{ $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			dicom3tools orthanc >/dev/null; } || \
		echo "system-tools: apt-get failed; the dciodvfy and Orthanc tests skip (and fail in CI)"; \
	fi

demo: $(STAMP)
	$(PY) -m monai.bundle run --config_file configs/simulate.json --dataset_dir $(DEMO_DIR)/data \
		--spec#num_sequences $(DEMO_SEQUENCES) --overwrite true
	@echo "== classical baseline (windowed NCC) on the test split"
	$(PY) scripts/evaluate.py --datalist $(DEMO_DIR)/data/datalist.json --split test --estimators ncc \
		--output $(DEMO_DIR)/evaluation-ncc --overwrite --no-progress
	@echo "== short fine-tuning of stage one of models/model.pt (consistency loss on), tracked in MLflow (SQLite store)"
	rm -rf $(DEMO_DIR)/train
	$(PY) -m monai.bundle run --config_file configs/train.json --dataset_dir $(DEMO_DIR)/data \
		--output_dir $(DEMO_DIR)/train --epochs 1 --val_interval 1 --num_val_cases 1 \
		--pretrained_checkpoint models/model.pt --pretrained_prefix stage_one. --learning_rate 0.0001 --tracking mlflow
	@echo "== inference with models/model.pt (both MUSSE-Net stages; instance optimisation off here for speed):"
	@echo "   NIfTI, PNG and DICOM (anonymous Parametric Map + overlay) per case; summary.json"
	rm -rf $(DEMO_DIR)/inference
	$(PY) -m monai.bundle run --config_file configs/inference.json --dataset_dir $(DEMO_DIR)/data \
		--output_dir $(DEMO_DIR)/inference --instance_steps 0 --dicom True --progress False
	@echo "== NCC, USSE-Net (stage one), MUSSE-Net (both stages) and MUSSE-Net + instance optimisation on the test split"
	$(PY) -m monai.bundle run --config_file configs/evaluate.json --dataset_dir $(DEMO_DIR)/data \
		--output_dir $(DEMO_DIR)/evaluation --overwrite true
	$(PY) scripts/show_mlflow.py --tracking-uri sqlite:///$(CURDIR)/$(DEMO_DIR)/train/mlruns.db

test: $(STAMP) system-tools
	$(VENV)/bin/ruff check bundle scripts tests
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check bundle scripts tests

bench-sim: $(STAMP)
	$(PY) scripts/benchmark_simulation.py

clean-demo:
	rm -rf $(DEMO_DIR)

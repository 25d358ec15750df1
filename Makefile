# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
DEMO_SEQUENCES ?= 12

.PHONY: demo test lint bench-sim clean-demo system-tools label-env label-demo test-label

# MONAI Label 0.8.5 needs numpy < 2 and pydicom < 3: its own environment, never mixed with .venv (docs/monailabel.md)
LABEL_VENV := .venv-label
LABEL_PY := $(LABEL_VENV)/bin/python
LABEL_PIP := $(LABEL_PY) -m pip --disable-pip-version-check --quiet
LABEL_STAMP := $(LABEL_VENV)/.installed
LABEL_DEMO_DIR ?= runs/label-demo
LABEL_PORT ?= 8000

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
	$(PY) scripts/show_mlflow.py --tracking-uri sqlite:///$(abspath $(DEMO_DIR))/train/mlruns.db

test: $(STAMP) system-tools
	$(VENV)/bin/ruff check bundle scripts tests
	$(PY) -m pytest -q --ignore=tests/label

# Same discipline as .venv: the CPU torch wheel first; monailabel itself without its declared dependencies (they
# pull a CUDA torch, sam2 and a torchvision that does not import beside the CPU wheel), then the bundle, no deps.
$(LABEL_STAMP): scripts/monailabel_app/requirements.txt pyproject.toml
	@test -x $(LABEL_PY) || $(PYTHON) -m venv $(LABEL_VENV)
	@$(LABEL_PY) -c "import torch" 2>/dev/null || $(LABEL_PIP) install torch==2.13.0
	$(LABEL_PIP) install -r scripts/monailabel_app/requirements.txt
	$(LABEL_PIP) install --no-deps monailabel==0.8.5
	$(LABEL_PIP) install --no-deps -e .
	$(LABEL_PY) -c "import numpy, pydicom, torch; assert int(numpy.__version__.split('.')[0]) < 2 and \
		int(pydicom.__version__.split('.')[0]) < 3 and torch.version.cuda is None, 'wrong label environment'"
	@touch $(LABEL_STAMP)

label-env: $(LABEL_STAMP)

# Two simulated recordings (RF + sidecar only), then the server in the foreground until Ctrl-C.
label-demo: $(STAMP) $(LABEL_STAMP)
	$(PY) -m monai.bundle run --config_file configs/simulate.json --dataset_dir $(LABEL_DEMO_DIR)/data \
		--spec#num_sequences 2 --overwrite true
	rm -rf $(LABEL_DEMO_DIR)/studies && mkdir -p $(LABEL_DEMO_DIR)/studies
	cp $(LABEL_DEMO_DIR)/data/*_rf.* $(LABEL_DEMO_DIR)/studies/
	@echo "== MONAI Label server: http://127.0.0.1:$(LABEL_PORT)/ (REST docs at /docs; Ctrl-C stops it). Strain of case_0000:"
	@echo "   curl -X POST 'http://127.0.0.1:$(LABEL_PORT)/infer/strain?image=case_0000_rf&output=image' -o strain.nii.gz"
	PATH="$(CURDIR)/$(LABEL_VENV)/bin:$$PATH" monailabel start_server --app scripts/monailabel_app \
		--studies $(LABEL_DEMO_DIR)/studies --host 127.0.0.1 --port $(LABEL_PORT) \
		--log_config scripts/monailabel_app/logging.json

test-label: $(STAMP) $(LABEL_STAMP)
	ELASTO_REQUIRE_LABEL=1 $(PY) -m pytest -q tests/label

lint: $(STAMP)
	$(VENV)/bin/ruff check bundle scripts tests

bench-sim: $(STAMP)
	$(PY) scripts/benchmark_simulation.py

clean-demo:
	rm -rf $(DEMO_DIR)

# aukit: two commands on a fresh machine.
#   make reproduce   set up .venv, generate SynthAU, run every paper notebook, write reports/
#   make test        set up .venv, run the test suite (tests marked gpu are skipped without CUDA)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.aukit-setup
PRESET ?=
PYTEST_ARGS ?=
LAB_ARGS ?=
# setup refuses to start below this much free disk (KiB): the .venv takes about 6.5 GiB, pip's build space the rest
SETUP_FREE_KB ?= 8388608

.PHONY: help setup reproduce test test-all lab clean-venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup:  ## create .venv (reused while pyproject.toml is unchanged), install aukit + Jupyter kernel
	@want=$$(sha256sum pyproject.toml | cut -c1-16); \
	if [ -x $(BIN)/python ] && [ -f $(STAMP) ] && [ "$$(cat $(STAMP))" = "$$want" ]; then \
		echo "[setup] $(VENV) is up to date"; \
	else \
		set -e; \
		echo "[setup] creating $(VENV) and installing pinned requirements (first time: a few minutes)"; \
		free_kb=$$(df -Pk . | awk 'NR==2 {print $$4}'); \
		if [ "$$free_kb" -lt $(SETUP_FREE_KB) ]; then \
			echo "[setup] only $$((free_kb / 1048576)) GiB free under $$(pwd); the install (torch and its CUDA libraries) needs about $$(($(SETUP_FREE_KB) / 1048576)) GiB. Free some disk and rerun." >&2; \
			exit 1; \
		fi; \
		test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install --quiet --upgrade "pip>=24" setuptools wheel; \
		$(BIN)/python -m pip install --quiet -e .; \
		scratch=$$(mktemp -d); \
		TMPDIR=$$scratch $(BIN)/python -m ipykernel install --sys-prefix --name aukit --display-name "Python (aukit)" >/dev/null; \
		rm -rf $$scratch; \
		$(BIN)/python -c "import torch, dlib, cv2, aukit; print('[setup] torch', torch.__version__, '| dlib', dlib.__version__, '| cuda', torch.cuda.is_available())"; \
		echo "$$want" > $(STAMP); \
	fi

reproduce: setup  ## run every paper notebook on SynthAU (PRESET=quick|full|smoke; default full with a GPU)
	$(BIN)/aukit reproduce $(if $(PRESET),--preset $(PRESET),)

test: setup  ## the test suite without gpu-marked tests
	$(BIN)/python -m pytest -m "not gpu" $(PYTEST_ARGS)

test-all: setup  ## every test, gpu ones included (on a CUDA machine)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: setup  ## JupyterLab with the aukit kernel (LAB_ARGS="--no-browser --port 8890", --allow-root as root)
	$(BIN)/jupyter lab notebooks/ $(LAB_ARGS)

clean-venv:  ## remove the virtual environment
	rm -rf $(VENV)

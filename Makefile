# Two set-up commands (see README): `make demo` runs the main job end to end, `make test` the full
# test suite. Each creates .venv, installs the CPU PyTorch wheel when no torch is present, the package
# with its test extras, and the system libraries it needs (libfluidsynth + a GM soundfont) via apt.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install sysdeps demo test test-fast lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0 \
	  || $(PY) -m pip install -q torch  # through the configured package index only
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps basic-pitch==0.4.0  # nmp.onnx for the equivalence tests (no TensorFlow)
	touch $@

install: $(STAMP) sysdeps

sysdeps:
	@if ! ldconfig -p | grep -q libfluidsynth || [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] \
	    || [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing libfluidsynth3, fluid-soundfont-gm, chromium and chromium-driver (UI tests) with apt"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends libfluidsynth3 fluid-soundfont-gm chromium chromium-driver >/dev/null; \
	fi

# The main job: render a small tech-house set (cached in data/), fine-tune the 5-stem LoRA adapter
# from the bundled htdemucs-mini base, evaluate base vs adapted and print the per-stem SDR table.
DEMO_DATA ?= data/techhouse5-demo
demo: install
	@test -f $(DEMO_DATA)/manifest.json || $(VENV)/bin/audiolora data render --recipe techhouse5 \
	  --tracks 12 --seconds 10 --samplerate 22050 --splits 0.7,0.15,0.15 --out $(DEMO_DATA)
	$(VENV)/bin/audiolora train configs/separation/techhouse_5stem.yaml data.root=$(DEMO_DATA)

test: install
	@$(VENV)/bin/pytest -q -m "slow or not slow"; rc=$$?; \
	if [ $$rc = 5 ]; then echo "pytest collected no tests: the suite is missing" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

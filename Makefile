# Two set-up commands (see README): `make demo` runs the main job end to end, `make test` the full
# test suite. Each creates .venv, installs the CPU PyTorch wheel when no torch is present, the package
# with its test extras, and the system libraries it needs (libfluidsynth + a GM soundfont) via apt.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install sysdeps demo demo-generate demo-v2a test test-fast lint format bench clean

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

# Generation: render a traditional set (split by piece) and small western renders, fit the style
# classifier on them, train a LoRA on the bundled gen-mini base (pretrained on western renders only),
# generate the held-out captions with base and adapted (same seeds; WAV + PNG in the run's
# samples/final/) and print the table. About 11 minutes on 2 CPU cores.
GEN_DATA ?= data/traditional-48
GEN_WESTERN := pop4 techhouse5 chorales
demo-generate: install
	@test -f $(GEN_DATA)/manifest.json || $(VENV)/bin/audiolora data render --recipe traditional \
	  --tracks 48 --seconds 8 --samplerate 16000 --splits 0.67,0.08,0.25 --out $(GEN_DATA)
	@for r in $(GEN_WESTERN); do test -f data/western-demo-$$r/manifest.json || \
	  $(VENV)/bin/audiolora data render --recipe $$r --tracks 6 --seconds 8 --samplerate 16000 \
	  --splits 0.5,0.17,0.33 --seed 1 --out data/western-demo-$$r || exit 1; done
	$(PY) scripts/demo_generate.py style --traditional $(GEN_DATA) \
	  --western $(GEN_WESTERN:%=data/western-demo-%) --through-codec gen-mini
	$(VENV)/bin/audiolora train configs/generation/traditional_lora.yaml data.root=$(GEN_DATA)
	$(PY) scripts/demo_generate.py table outputs/demo-generate

# Video-to-audio: render 24 synthetic videos of the `wood` kit (v2a-mini was pretrained on `drums`),
# split, cache, train LoRA with rank phases 8 -> 16 -> 32, evaluate base vs adapted on the held-out
# clips, then write one video with its generated soundtrack. About 8 minutes on 2 CPU cores.
V2A_DATA ?= data/v2a-wood
demo-v2a: install
	@test -f $(V2A_DATA)/sync_020.mp4 || $(VENV)/bin/audiolora v2a render $(V2A_DATA) --kit wood \
	  --videos 24 --seed 1
	$(VENV)/bin/audiolora v2a run $(V2A_DATA) --config configs/v2a/v2a_mini_lora.yaml \
	  --out outputs/demo-v2a
	$(VENV)/bin/audiolora v2a generate $(V2A_DATA)/sync_020.mp4 \
	  --adapter outputs/demo-v2a/phase-3/final --guidance 2 --out outputs/demo-v2a/sync_020.mp4

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

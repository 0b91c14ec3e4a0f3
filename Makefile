# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test lint format bench soak smoke setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# The CPU build of torch must come first: an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	touch $(STAMP)

# Index seeds/ (incremental) and start the bot: Discord when DISCORD_TOKEN is set, else the local console.
run: $(STAMP)
	$(VENV)/bin/archivebot index
	$(VENV)/bin/archivebot run

test: $(STAMP)
	$(PY) -m pytest -q

# Zero findings is the bar: ruff (lint + format) over everything, mypy --strict over the library and the bot.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# A newcomer's first hour: make run in a pseudo-terminal (a question, a follow-up), then the reading room in Chromium.
smoke: $(STAMP)
	$(PY) tests/newcomer_smoke.py

bench: $(STAMP)
	$(PY) -m bench

soak: $(STAMP)
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) data

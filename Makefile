# The README's two commands: `make book` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader calls `alembic` from PATH; the book build and nbgrader import lstm_ref.
# (No MPLBACKEND here: the Jupyter kernel picks the inline backend only when it is unset.)
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
CHAPTERS := ch01_rnn ch02_vanishing ch03_lstm ch04_variants ch05_nngraph ch06_gpu

.PHONY: setup book student-notebooks test grade bench clean help

help:
	@echo "make book   set up .venv and build the site into _build/html"
	@echo "make test   set up .venv, build the site and run every test"
	@echo "make grade A=ch01_rnn   grade submitted/*/ch01_rnn (see the 'For instructors' page)"
	@echo "make bench  time lstm_ref against torch.nn.LSTM"

# (Re)create the virtual environment when it is missing or older than requirements.txt.
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; the course needs Python 3.11 (set PYTHON=...)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is not Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

setup: $(STAMP)

# Student notebooks are generated from solutions/ (nbgrader), never edited by hand.
student-notebooks: setup
	$(BIN)/python -m lstm_ref.grading.release_to_book

book: student-notebooks
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going --builder html
	@echo
	@echo "The site is built: open file://$(CURDIR)/_build/html/index.html"

test: book
	$(BIN)/python -m pytest

grade: setup
	@test -n "$(A)" || { echo "usage: make grade A=<chapter id>, one of: $(CHAPTERS)"; exit 2; }
	$(BIN)/python -m lstm_ref.grading grade $(A)

bench: setup
	$(BIN)/python -m lstm_ref.bench

clean:
	rm -rf _build .jupyter_cache release autograded feedback book/chapters/*/*.ipynb

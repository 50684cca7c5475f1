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

.PHONY: setup book student-notebooks test grade bench experiments clean clean-grading help

help:
	@echo "make book   set up .venv and build the site into _build/html"
	@echo "make test   set up .venv, build the site and run every test"
	@echo "make grade A=ch01_rnn   grade submitted/*/ch01_rnn in a sandbox per student (needs bwrap;"
	@echo "            WORKERS=N students in parallel; NO_SANDBOX=yes only for trusted code;"
	@echo "            see the 'For instructors' page)"
	@echo "make clean  remove build outputs (_build, caches, release/, generated notebooks);"
	@echo "            never autograded/, feedback/, the gradebook or grades.csv"
	@echo "make clean-grading CONFIRM=yes   ALSO delete autograded/ and feedback/ (grades stay in gradebook.db)"
	@echo "make bench  time lstm_ref against torch.nn.LSTM"
	@echo "make experiments [NAME=charrnn]   rerun the recorded experiments the book reads"
	@echo "            (all, or one; resumable seed by seed; writes book/results/<name>/)"

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
	@test "$(NO_SANDBOX)" = yes || command -v bwrap >/dev/null || { echo "error: bubblewrap (bwrap) is not installed; grading runs each student's code in a bubblewrap sandbox."; echo "Install it with: apt-get install bubblewrap"; exit 2; }
	$(BIN)/python -m lstm_ref.grading grade $(A)$(if $(WORKERS), --workers $(WORKERS))$(if $(filter yes,$(NO_SANDBOX)), --no-sandbox)

# The book never trains: its pages read the records these runs write into book/results/.
experiments: setup
	$(BIN)/python -m lstm_ref.results run $(NAME)

bench: setup
	$(BIN)/python -m lstm_ref.bench

# Build outputs only: graded work (autograded/, feedback/, gradebook.db, grades.csv) stays.
clean:
	rm -rf _build .jupyter_cache release book/chapters/*/*.ipynb

# Graded notebooks and feedback pages: only with CONFIRM=yes (the gradebook is kept).
clean-grading:
	@test "$(CONFIRM)" = yes || { echo "make clean-grading deletes autograded/ and feedback/ (students' graded notebooks and feedback pages)."; echo "Run it as: make clean-grading CONFIRM=yes"; exit 2; }
	rm -rf autograded feedback

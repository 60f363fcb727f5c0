# Two commands do all the set-up on a fresh machine with Python 3.11 (see README.md):
#   make demo   # the main job on the synthetic default
#   make test   # the test suite
# Both create .venv with the pinned versions of constraints.txt on first use.

PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test clean-demo

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

clean-demo:
	rm -rf data/synth runs/demo submissions/demo

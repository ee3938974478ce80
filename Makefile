# The two commands of the README. Each makes .venv and installs the pinned set first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: book test test-wheel clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (discgrad)"
	touch $(STAMP)

# Executes every chapter at the default scale (cpu without a GPU) and writes _build/html.
book: $(STAMP)
	DISCGRAD_PROGRESS=0 $(VENV)/bin/jupyter-book build . --builder html -W -n --keep-going

# Unit tests, doctests, every notebook at the smoke scale (nbval), and a book build without execution.
test: $(STAMP)
	DISCGRAD_SCALE=smoke $(PY) -m pytest -m "not wheel"

# Builds the wheel, installs it in a fresh venv without the checkout, and runs every notebook
# from it at the smoke scale in a folder outside the repository, as on Colab (a few minutes).
test-wheel: $(STAMP)
	DISCGRAD_SCALE=smoke $(PY) -m pytest -m wheel tests/test_wheel.py

clean:
	rm -rf _build

# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU build of torch (a bare `torch` requirement would pull a multi-GB CUDA wheel).
# With a GPU, install your own torch into .venv first; this step then leaves it alone.
TORCH ?= torch==2.13.0

.PHONY: demo test test-heavy bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ratecheck demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-heavy: $(STAMP)
	$(BIN)/python -m pytest -m heavy

bench: $(STAMP)
	$(BIN)/ratecheck bench

clean:
	rm -rf $(VENV) out results

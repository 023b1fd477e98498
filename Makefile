# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU build of torch (a bare `torch` requirement would pull a multi-GB CUDA wheel).
# With a GPU, install your own torch into .venv first; this step then leaves it alone.
TORCH ?= torch==2.13.0

.PHONY: demo test test-heavy bench gpu-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ratecheck demo

# One test worker per core, at most four (each imports torch; one torch thread per worker).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

test-heavy: $(STAMP)
	$(BIN)/python -m pytest -m heavy

bench: $(STAMP)
	$(BIN)/ratecheck bench

# CUDA test subset (skipped without a GPU) and the large-batch GPU benchmark: a few minutes.
# No venv needed: on a GPU machine without network it runs with that machine's python3 and torch.
gpu-check:
	bash .ci/gpu-check

clean:
	rm -rf $(VENV) out results

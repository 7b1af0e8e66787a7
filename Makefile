# The two set-up commands of the README: `make train` and `make test`.
# Both create .venv (reusing system site-packages), build the extension in
# release mode and install the package in editable mode.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed

.PHONY: venv build test test-rust test-python train bench lint

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "maturin>=1.8,<2" numpy safetensors tqdm pytest hypothesis threadpoolctl
	$(BIN)/pip install -q "matplotlib>=3.7"  # plots by default: loss.png, attention maps, examples/
	touch $(STAMP)

venv: $(STAMP)

build: venv
	$(BIN)/maturin develop --release -q

test-rust:
	cargo test --release -q

test-python: build
	$(BIN)/python -m pytest -q -x tests

test: test-rust test-python

train: build
	$(BIN)/attnrs train

bench: build
	$(BIN)/attnrs bench

lint: venv
	$(BIN)/python -c "import ruff" 2>/dev/null || $(BIN)/pip install -q ruff
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --features python -- -D warnings
	$(BIN)/ruff check python tests examples

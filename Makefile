# The two set-up commands of the README: `make train` and `make test`.
# Both create .venv (reusing system site-packages), build the extension in
# release mode and install the package in editable mode.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed

.PHONY: venv build test test-rust test-python test-mpi mpi train bench lint test-asan

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "maturin>=1.8,<2" numpy safetensors tqdm pytest hypothesis threadpoolctl
	touch $(STAMP)

venv: $(STAMP)

# The `mpi` extra (mpi4py + MPICH's mpiexec from PyPI) for the distributed tests.
MPI_STAMP := $(VENV)/.mpi-installed
$(MPI_STAMP): $(STAMP)
	$(BIN)/pip install -q "mpi4py>=4" "mpich>=4"
	touch $(MPI_STAMP)

mpi: $(MPI_STAMP)

build: venv
	$(BIN)/maturin develop --release -q

test-rust:
	cargo test --release -q

test-python: build mpi
	ATTNRS_REQUIRE_MPI=1 $(BIN)/python -m pytest -q -x tests

# Only the data-parallel tests (they start `mpiexec -n 2` jobs themselves).
test-mpi: build mpi
	ATTNRS_REQUIRE_MPI=1 $(BIN)/python -m pytest -q tests/test_distributed.py

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
	$(BIN)/ruff check python tests

# The Rust tests under AddressSanitizer (needs a nightly toolchain; none is
# downloaded: without one this says so and succeeds). Own target dir, so the
# instrumented build does not replace the normal one.
HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/host: //p')
test-asan:
	@if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then \
		RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
		cargo +nightly test --release --lib --target $(HOST) --target-dir target/asan -q; \
	else echo "test-asan: no nightly toolchain (rustup toolchain list); skipped"; fi

# The two set-up commands of the README: `make train` and `make test`.
# Both create .venv (reusing system site-packages), build the extension in
# release mode and install the package in editable mode.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed

.PHONY: venv build test test-rust test-python test-mpi mpi train bench lint test-asan test-arm test-arm-ci arm-tools wheel-arm

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "maturin>=1.8,<2" numpy safetensors tqdm pytest hypothesis threadpoolctl
	$(BIN)/pip install -q "matplotlib>=3.7"  # plots by default: loss.png, attention maps, examples/
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
	$(BIN)/ruff check python tests examples

# The Rust tests under AddressSanitizer (needs a nightly toolchain; none is
# downloaded: without one this says so and succeeds). Own target dir, so the
# instrumented build does not replace the normal one.
HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/host: //p')
test-asan:
	@if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then \
		RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
		cargo +nightly test --release --lib --target $(HOST) --target-dir target/asan -q; \
	else echo "test-asan: no nightly toolchain (rustup toolchain list); skipped"; fi

# The Rust tests on aarch64 under qemu user-mode emulation, on the NEON path
# and with ATTNRS_SIMD=scalar (that run skips the GEMM microkernel tests,
# which test every kernel directly whatever the level and ran in the first).
# Both skip `gemm::peak`, whose GFLOP/s floor means nothing under emulation.
# It installs the cross linker, qemu and the Rust target when missing (apt
# only then; sudo unless root). `test-arm-ci` is the subset CI runs: the NEON
# path only, without the scalar GEMM microkernel test (plain Rust, the same
# code `make test` runs on x86).
ARM := aarch64-unknown-linux-gnu
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARM_ENV = CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $$(dirname $$(dirname \
	$$(realpath $$(aarch64-linux-gnu-gcc -print-file-name=libc.so.6))))"

arm-tools:
	@command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null || \
		{ $(SUDO) apt-get update -q && \
		  $(SUDO) apt-get install -y -q --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; }
	@rustup target list --installed | grep -qx $(ARM) || rustup target add $(ARM)

test-arm: arm-tools
	$(ARM_ENV) cargo test --release -q --target $(ARM) -- --skip gemm::peak
	$(ARM_ENV) ATTNRS_SIMD=scalar cargo test --release -q --target $(ARM) -- --skip gemm::peak \
		--skip gemm::kernel_tests

test-arm-ci: arm-tools
	$(ARM_ENV) cargo test --release -q --target $(ARM) -- --skip gemm::peak \
		--skip gemm::kernel_tests::scalar_kernel

# The manylinux aarch64 abi3 wheel, into target/wheels/. Zig (PyPI's
# ziglang) links it against glibc 2.17: manylinux2014, so it also installs on
# older distributions (Amazon Linux 2, Ubuntu 18.04).
wheel-arm: venv
	@rustup target list --installed | grep -qx $(ARM) || rustup target add $(ARM)
	@$(BIN)/python -c "import ziglang" 2>/dev/null || $(BIN)/pip install -q ziglang
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/maturin build --release --target $(ARM) \
		--zig --compatibility manylinux2014

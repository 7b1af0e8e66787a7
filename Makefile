# The two set-up commands of the README: `make train` and `make test`.
# Both create .venv (reusing system site-packages), build the extension in
# release mode and install the package in editable mode.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed

.PHONY: venv build test test-rust test-python train bench lint test-arm test-arm-ci arm-tools wheel-arm

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "maturin>=1.8,<2" numpy safetensors tqdm pytest hypothesis threadpoolctl
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
	$(BIN)/ruff check python tests

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

//! Placeholder replaced by the GEMM benchmark (criterion) — see issue 2.
fn main() {}

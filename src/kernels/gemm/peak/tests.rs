use super::*;

#[test]
fn probe_reports_a_positive_rate() {
    let g = microkernel_gflops(Duration::from_millis(20));
    assert!(g.is_finite() && g > 0.1, "{g}");
    let two = concurrent_gflops(2, Duration::from_millis(20));
    assert!(two.is_finite() && two > 0.1, "{two}");
}

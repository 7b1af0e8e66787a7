import numpy as np
import pytest

import attnrs as ar


def test_info_reports_isa_and_threads():
    info = ar.info()
    assert info["isa"] in info["isa_available"]
    assert info["threads"] == ar.get_num_threads() >= 1


def test_backward_through_matmul_chain():
    rng = np.random.default_rng(0)
    x = ar.tensor(rng.standard_normal((4, 8)), requires_grad=True)
    w = ar.tensor(rng.standard_normal((8, 3)), requires_grad=True)
    ((x @ w) * 2.0 + 1.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * np.ones((4, 3)) @ w.numpy().T, rtol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), x.numpy().T @ (2.0 * np.ones((4, 3))), rtol=1e-5)


def test_peak_probe_measures_and_checks_arguments():
    from attnrs import _core

    assert _core.peak_gflops(1, 0.01) > 0.1
    with pytest.raises(ValueError, match="threads"):
        _core.peak_gflops(0)
    with pytest.raises(ValueError, match="seconds"):
        _core.peak_gflops(1, float("nan"))

"""Least-squares strain returns known strains exactly."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.strain import axial_strain, kernel_half_length, lsq_derivative_kernel


@pytest.mark.parametrize("strain", [-0.01, 0.005, -0.03])
def test_uniform_strain_comes_back_exactly(strain):
    dz = 0.01925
    z = np.arange(400)[:, None] * dz * np.ones((1, 5))
    e = axial_strain(strain * z + 0.1, dz, kernel_mm=1.0)
    np.testing.assert_allclose(e, strain, rtol=1e-5)  # edges included


def test_kernel_is_the_savitzky_golay_first_derivative():
    from scipy.signal import savgol_coeffs

    np.testing.assert_allclose(lsq_derivative_kernel(5), savgol_coeffs(11, 1, deriv=1, use="dot"), atol=1e-12)
    assert kernel_half_length(1.0, 0.01925) == 26


def test_noise_is_reduced_as_the_kernel_grows():
    rng = np.random.default_rng(0)
    u = rng.normal(0, 1e-3, size=(4000, 1))
    short, long = axial_strain(u, 0.02, 0.5), axial_strain(u, 0.02, 2.0)
    # var ratio of LSQ over N points scales as N (N^2 - 1): ~ (101 / 25)^3
    expected = (101 * (101**2 - 1) / (25 * 624)) ** 0.5
    assert np.std(short[200:-200]) / np.std(long[200:-200]) == pytest.approx(expected, rel=0.15)

"""Simulated sequences: deterministic, ground truth consistent with the RF motion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from bundle.errors import ElastographyInputError
from bundle.simulation import Inclusion, PhantomConfig, random_case, simulate_sequence
from bundle.simulation.rf import PSF


def _ncc(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_shapes_and_determinism(small_phantom):
    inc = Inclusion((5.0, 7.0), 2.0, 3.0)
    a = simulate_sequence(small_phantom, inc, (0.01, 0.02), seed=7)
    b = simulate_sequence(small_phantom, inc, (0.01, 0.02), seed=7)
    c = simulate_sequence(small_phantom, inc, (0.01, 0.02), seed=8)
    assert a.rf.shape == (3, 512, 48) and a.rf.dtype == np.float32
    assert a.displacement_mm.shape == (2, 2, 512, 48) and a.strain.shape == (2, 512, 48)
    assert np.array_equal(a.rf, b.rf) and not np.array_equal(a.rf, c.rf)
    assert a.description()["applied_strains"] == [0.01, 0.02]


def test_post_frame_warped_by_ground_truth_matches_pre(acquisition):
    """The ground truth really is the motion of the speckle: warping undoes it, zero motion does not."""
    config = PhantomConfig(shape=(512, 48), acquisition=acquisition, snr_db=float("inf"))
    seq = simulate_sequence(config, Inclusion((5.0, 7.0), 2.5, 4.0), (0.02,), seed=1)
    dz, dx = acquisition.spacing_mm
    i, j = np.meshgrid(np.arange(512), np.arange(48), indexing="ij")
    u = seq.displacement_mm[0]
    warped = map_coordinates(seq.rf[1], [i + u[0] / dz, j + u[1] / dx], order=3, mode="nearest")
    inner = (slice(40, -40), slice(6, -6))
    assert _ncc(warped[inner], seq.rf[0][inner]) > 0.98
    assert _ncc(seq.rf[1][inner], seq.rf[0][inner]) < 0.7


def test_ground_truth_strain_is_the_applied_strain_far_from_the_lesion(small_phantom):
    seq = simulate_sequence(small_phantom, None, (0.015,), seed=0)
    np.testing.assert_allclose(seq.strain, -0.015, atol=1e-7)
    assert seq.displacement_mm[0, 0, 0].max() == pytest.approx(0.0, abs=1e-12)  # probe surface fixed


def test_speckle_is_fully_developed(small_phantom):
    seq = simulate_sequence(small_phantom, None, (0.01,), seed=2)
    psf = PSF.from_acquisition(small_phantom.acquisition, small_phantom.lateral_fwhm_mm)
    assert small_phantom.scatterers_per_cell >= 10
    # RF of fully developed speckle is zero-mean Gaussian: kurtosis close to 3
    x = seq.rf[0, 40:-40, 4:-4].ravel().astype(np.float64)
    kurtosis = np.mean((x - x.mean()) ** 4) / np.var(x) ** 2
    assert kurtosis == pytest.approx(3.0, abs=0.3)
    assert psf.sigma_samples > 1


def test_random_case_draws_valid_lesions_and_increasing_levels(small_phantom):
    rng = np.random.default_rng(0)
    seen_stiff = seen_soft = False
    for _ in range(40):
        inc, levels = random_case(PhantomConfig(), rng, num_post_frames=4)
        assert len(levels) == 4 and all(np.diff(levels) > 0)
        assert 0.005 <= levels[0] and levels[-1] <= 0.03
        if inc is not None:
            seen_stiff |= inc.stiffness_ratio > 1
            seen_soft |= inc.stiffness_ratio < 1
            assert 2.0 <= inc.radius_mm <= 6.0
    assert seen_stiff and seen_soft


def test_bad_levels_are_refused(small_phantom):
    with pytest.raises(ElastographyInputError):
        simulate_sequence(small_phantom, None, (), seed=0)
    with pytest.raises(ElastographyInputError):
        simulate_sequence(small_phantom, None, (-0.01,), seed=0)

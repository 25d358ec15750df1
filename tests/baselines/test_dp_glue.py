"""Dynamic programming and the GLUE-class estimator: known shifts, uniform compression, GLUE beats NCC's SNRe."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.acquisition import Acquisition
from bundle.baselines import DPEstimator, GLUEEstimator, NCCEstimator
from bundle.baselines.dp import dp_displacement
from bundle.baselines.glue import glue_refine
from bundle.errors import ElastographyInputError
from bundle.estimator import available_estimators, create_estimator
from bundle.simulation import PhantomConfig, simulate_sequence

ACQ = Acquisition(sampling_frequency_hz=40e6, center_frequency_hz=5e6, speed_of_sound_m_s=1540.0, line_pitch_mm=0.3)
STRAIN = 0.01
INNER = (slice(100, -100), slice(4, -4))  # away from the DP's free ends and the lateral borders


@pytest.fixture(scope="module")
def uniform():
    """512 x 32 RF, uniform 1 % compression, 30 dB."""
    return simulate_sequence(PhantomConfig(shape=(512, 32), acquisition=ACQ, snr_db=30.0), None, [STRAIN], seed=7)


def _shifted(shift_z: int, shift_x: int, seed: int = 0):
    """Band-limited noise and a copy moved by an integer (samples, lines): post[i + dz, j + dx] = pre[i, j]."""
    rng = np.random.default_rng(seed)
    big = rng.standard_normal((300, 40))
    kernel = np.exp(-0.5 * (np.arange(-8, 9) / 2.5) ** 2) * np.cos(2 * np.pi * np.arange(-8, 9) / 8)
    big = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, big)
    pre = big[20:276, 8:32]
    post = big[20 - shift_z : 276 - shift_z, 8 - shift_x : 32 - shift_x]
    return pre / pre.std(), post / pre.std()


def test_registered():
    assert {"dp", "glue"} <= set(available_estimators())
    assert isinstance(create_estimator("glue", iterations=1), GLUEEstimator)


@pytest.mark.parametrize("shift", [(3, 0), (-5, 1), (0, -1)])
def test_dp_finds_an_integer_shift_exactly(shift):
    pre, post = _shifted(*shift)
    a, lat = dp_displacement(pre, post, half_range_px=8, max_lateral_px=1)
    inner = (slice(16, -16), slice(2, -2))
    assert np.all(a[inner] == shift[0]) and np.all(lat[inner] == shift[1])


def test_dp_band_around_a_reference_path_gives_the_full_search_result(uniform):
    pre, post = (f / uniform.rf[0].std() for f in (uniform.rf[0], uniform.rf[1]))
    full = dp_displacement(pre[:, :8], post[:, :8], half_range_px=12)
    seed, _ = dp_displacement(pre[:, 4:5], post[:, 4:5], half_range_px=12, max_lateral_px=0)
    banded = dp_displacement(pre[:, :8], post[:, :8], half_range_px=6, reference=seed[:, 0])
    np.testing.assert_array_equal(banded[0], full[0])
    np.testing.assert_array_equal(banded[1], full[1])


def test_glue_recovers_uniform_strain_and_beats_ncc_snre(uniform):
    pre, posts = uniform.rf[0], uniform.rf[1:]
    results = {}
    for est in (NCCEstimator(), GLUEEstimator()):
        strain = est.strain(est.estimate(pre, posts, ACQ), ACQ)[0][INNER]
        results[est.name] = (float(strain.mean()), float(abs(strain.mean()) / strain.std()))
    glue_mean, glue_snre = results["glue"]
    assert glue_mean == pytest.approx(-STRAIN, rel=0.02)  # issue #5: within 2 %
    assert glue_snre > 2 * results["ncc"][1]  # measured 175 vs 12.7


def test_glue_is_sub_sample_where_dp_is_integer(uniform):
    dz = ACQ.axial_spacing_mm
    true = uniform.displacement_mm[0, 0] / dz
    pre, post = (f / uniform.rf[0].std() for f in (uniform.rf[0], uniform.rf[1]))
    seed_a, seed_l = DPEstimator().seed_displacement(pre, post)
    a, _ = glue_refine(pre, post, seed_a, seed_l)
    seed_error = float(np.abs(seed_a - true)[INNER].mean())
    glue_error = float(np.abs(a - true)[INNER].mean())
    assert 0.2 < seed_error < 0.5  # rounding to integers: ~0.25 samples on average
    assert glue_error < 0.05  # measured 0.010 samples
    direct, _ = glue_refine(pre, post, seed_a, seed_l, solver="direct")
    np.testing.assert_allclose(a, direct, atol=1e-3)  # conjugate gradients reach the direct solution


def test_bad_arguments_are_refused():
    with pytest.raises(ElastographyInputError, match="weights"):
        GLUEEstimator(weights=(5, 1, -1, 1))
    with pytest.raises(ElastographyInputError, match="solver"):
        GLUEEstimator(solver="magic")
    with pytest.raises(ElastographyInputError, match="max_strain"):
        DPEstimator(max_strain=0.9)
    with pytest.raises(ElastographyInputError, match="one shape"):
        dp_displacement(np.zeros((8, 4)), np.zeros((8, 5)), 2)
    with pytest.raises(ElastographyInputError, match="non-negative integers"):
        dp_displacement(np.zeros((8, 4)), np.zeros((8, 4)), -1)
    with pytest.raises(ElastographyInputError, match="reference"):
        dp_displacement(np.zeros((8, 4)), np.zeros((8, 4)), 2, reference=np.array([0, 3, 0, 0, 0, 0, 0, 0]))


def test_glue_at_four_samples_per_period_upsamples_its_seed():
    # fs = 4 f0: a DP on the raw samples hops half a period (mean strain -0.006 for -0.010 before the fix)
    acq = Acquisition(sampling_frequency_hz=20e6, center_frequency_hz=5e6, speed_of_sound_m_s=1540.0, line_pitch_mm=0.3)
    seq = simulate_sequence(PhantomConfig(shape=(256, 32), acquisition=acq, snr_db=30.0), None, [STRAIN], seed=7)
    assert DPEstimator.upsampling(acq) == 2 and DPEstimator.upsampling(ACQ) == 1
    est = GLUEEstimator()
    strain = est.strain(est.estimate(seq.rf[0], seq.rf[1:], acq), acq)[0][40:-40, 4:-4]
    assert float(strain.mean()) == pytest.approx(-STRAIN, rel=0.02)

"""Randomised pulses: each shape's measured spectrum matches the drawn f0 and bandwidth within 5 %."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.simulation.pulse import SHAPES, draw_pulse, measure_spectrum


@pytest.mark.parametrize("samples_per_period", [4.0, 12.0])
@pytest.mark.parametrize("shape", SHAPES)
def test_measured_spectrum_matches_drawn(shape, samples_per_period):
    rng = np.random.default_rng(13)
    for _ in range(20):
        d = draw_pulse(rng, samples_per_period=samples_per_period, shape=shape)
        assert 3e6 <= d.parameters["f0_hz"] <= 12e6 and 0.4 <= d.parameters["fractional_bandwidth"] <= 1.0
        f, b = measure_spectrum(d.pulse, d.fs_hz)
        # measured worst case over 20 draws: <= 2.8 % (asymmetric, 4 samples per period), else <= 0.3 %
        assert f == pytest.approx(d.f0_hz, rel=0.05), d.parameters
        assert b == pytest.approx(d.fractional_bandwidth, rel=0.05), d.parameters


def test_draw_covers_all_shapes():
    rng = np.random.default_rng(0)
    assert {draw_pulse(rng).shape for _ in range(30)} == set(SHAPES)


@pytest.mark.parametrize("samples_per_period", [4.0, 12.0])
@pytest.mark.parametrize("f0_hz", [3e6, 12e6])
def test_ncc_recovers_uniform_strain(f0_hz, samples_per_period):
    """1 % uniform compression from the existing simulator, fs = samples_per_period x f0: NCC within 3 %.

    Measured mean strain (seed 0, 12 mm x 96 lines): -0.01017 at 3 MHz / 4 samples per period (a consistent
    +2 % bias there across seeds: NCC's window is 1.5 mm, only ~3 wavelengths at 3 MHz); within 0.2 % elsewhere.
    """
    from bundle.acquisition import Acquisition
    from bundle.baselines import NCCEstimator
    from bundle.simulation import PhantomConfig, simulate_sequence

    acq = Acquisition(
        sampling_frequency_hz=samples_per_period * f0_hz,
        center_frequency_hz=f0_hz,
        speed_of_sound_m_s=1540.0,
        line_pitch_mm=0.3,
        fractional_bandwidth=0.7,
    )
    h = int(round(12.0 / acq.axial_spacing_mm))
    seq = simulate_sequence(
        PhantomConfig(shape=(h, 96), acquisition=acq, snr_db=30.0), inclusion=None, applied_strains=(0.01,), seed=0
    )
    est = NCCEstimator()
    strain = est.strain(est.estimate(seq.rf[0], seq.rf[1:], acq), acq)[0]
    rows = int(np.ceil(2.0 / acq.axial_spacing_mm))
    mean = float(strain[rows : h - rows, 2:-2].mean())
    assert mean == pytest.approx(-0.01, rel=0.03), f"mean strain {mean:.5f}"

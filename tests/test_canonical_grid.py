"""The canonical grid (bundle/canonical_grid.py): fixed in wavelengths, exact for linear fields, and a known
uniform strain survives the trip there and back at 3 and 12 MHz, 4 and 12 samples per period, 0.4 and 0.1 mm."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.acquisition import Acquisition
from bundle.baselines import NCCEstimator
from bundle.canonical_grid import CanonicalGrid
from bundle.simulation import PhantomConfig, simulate_sequence
from bundle.strain import axial_strain


def _acq(f0_mhz, samples_per_period, pitch_mm):
    fs = samples_per_period * f0_mhz * 1e6
    return Acquisition(sampling_frequency_hz=fs, center_frequency_hz=f0_mhz * 1e6, line_pitch_mm=pitch_mm)


def test_grid_is_fixed_in_wavelengths():
    grid = CanonicalGrid()
    low = grid.acquisition(_acq(3.0, 4.0, 0.4))
    high = grid.acquisition(_acq(12.0, 12.0, 0.1))
    assert grid.axial_ratio(_acq(3.0, 4.0, 0.4)) == (2, 1) and grid.axial_ratio(_acq(12.0, 12.0, 0.1)) == (2, 3)
    for acq in (low, high):
        assert acq.sampling_frequency_hz / acq.center_frequency_hz == pytest.approx(8.0)
        assert acq.line_pitch_mm == pytest.approx(acq.wavelength_mm)
    # the training data's grid (5 MHz, 40 MHz, 0.3 mm) is nearly canonical already: 8 samples per period, 0.308 mm
    train = grid.acquisition(_acq(5.0, 8.0, 0.3))
    assert train.sampling_frequency_hz == 40e6 and train.line_pitch_mm == pytest.approx(0.308)
    with pytest.raises(ValueError):
        CanonicalGrid(samples_per_period=1.0)


def test_linear_displacement_maps_back_exactly():
    acq, grid = _acq(7.6, 5.0, 0.21), CanonicalGrid()
    shape = (600, 70)
    canon = grid.acquisition(acq)
    hc, wc = grid.shape(shape, acq)
    assert (hc - 1) * canon.axial_spacing_mm <= (shape[0] - 1) * acq.axial_spacing_mm + canon.axial_spacing_mm
    assert (wc - 1) * canon.line_pitch_mm <= (shape[1] - 1) * acq.line_pitch_mm

    def field(z, x):  # 1.5 % compression, lateral expansion, a rigid shift
        return np.stack([-0.015 * z + 0.02, 0.007 * (x - 7.0) + 0.0 * z])

    zc, xc = np.meshgrid(np.arange(hc) * canon.axial_spacing_mm, np.arange(wc) * canon.line_pitch_mm, indexing="ij")
    z, x = np.meshgrid(
        np.arange(shape[0]) * acq.axial_spacing_mm, np.arange(shape[1]) * acq.line_pitch_mm, indexing="ij"
    )
    back = grid.from_canonical(field(zc, xc)[None], acq, shape)[0]
    inside = (z <= zc.max()) & (x <= xc.max())  # beyond the last canonical pixel: nearest value, not exact
    np.testing.assert_allclose(back[:, inside], field(z, x)[:, inside], atol=1e-6)
    with pytest.raises(ValueError):
        grid.from_canonical(np.zeros((2, hc + 1, wc)), acq, shape)


@pytest.mark.parametrize(
    "f0_mhz, samples_per_period, pitch_mm, shape",
    [(3.0, 4.0, 0.4, (400, 40)), (12.0, 12.0, 0.1, (1600, 80))],
)
def test_uniform_strain_survives_the_round_trip(f0_mhz, samples_per_period, pitch_mm, shape):
    acq = _acq(f0_mhz, samples_per_period, pitch_mm)
    fwhm = 1.2 * acq.wavelength_mm  # a beam about a wavelength wide, as an F 1-2 aperture gives
    seq = simulate_sequence(PhantomConfig(shape=shape, acquisition=acq, lateral_fwhm_mm=fwhm), None, [0.01], seed=2)
    grid = CanonicalGrid()
    frames, canon = grid.to_canonical(seq.rf, acq)
    assert frames.shape[1:] == grid.shape(shape, acq)
    displacement = NCCEstimator().estimate(frames[0], frames[1:], canon)  # estimated on the canonical grid
    back = grid.from_canonical(displacement, acq, shape)
    strain = axial_strain(back[0, 0], acq.axial_spacing_mm, kernel_mm=2.5)
    h, w = shape
    centre = (slice(h // 6, -h // 6), slice(3, -3))
    assert np.median(strain[centre]) == pytest.approx(-0.01, rel=0.05)
    # and in mm against the ground truth on the input grid
    rmse_um = 1e3 * np.sqrt(np.mean((back[0, 0][centre] - seq.displacement_mm[0, 0][centre]) ** 2))
    assert rmse_um < 0.02 * acq.wavelength_mm * 1e3  # measured 2.1 um at 3 MHz (lambda 513 um), 0.27 um at 12 MHz


def test_training_loader_resamples_to_the_canonical_grid(tmp_path):
    """LoadRFSequenced(canonical_grid=...) gives the grid's shape, the same samples as to_canonical, unit std."""
    import json

    from bundle.training import LoadRFSequenced

    acq = _acq(7.5, 5.0, 0.2)
    seq = simulate_sequence(PhantomConfig(shape=(400, 40), acquisition=acq), None, (0.01,), seed=4)
    path = tmp_path / "case.npy"
    np.save(path, np.moveaxis(seq.rf, 0, -1))  # (axial, lateral, frame): the reader's default order
    (tmp_path / "case.json").write_text(json.dumps({"acquisition": acq.to_dict()}))
    grid = CanonicalGrid()
    out = LoadRFSequenced(canonical_grid=grid)({"image": str(path)})["image"]
    expected, _ = grid.to_canonical(seq.rf, acq)
    assert tuple(out.shape) == (2, *grid.shape((400, 40), acq)) == expected.shape
    np.testing.assert_allclose(out.numpy(), expected / expected[0].std(), rtol=1e-4, atol=1e-5)
    plain = LoadRFSequenced()({"image": str(path)})["image"]
    assert tuple(plain.shape) == (2, 400, 40)
    with pytest.raises(ValueError, match="CanonicalGrid"):
        LoadRFSequenced(canonical_grid="8 spp")

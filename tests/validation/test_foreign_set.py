"""The independent (PyMUST) validation set's building blocks: phantoms that the metrics can score at every probe,
ground truth that is the derivative it claims to be, layers that strain as their moduli say, and SIMUS + DAS RF
from which NCC recovers a known uniform compression."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymust")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import foreign_phantoms as fp  # noqa: E402
import make_foreign_set as mfs  # noqa: E402

from bundle.acquisition import Acquisition  # noqa: E402
from bundle.baselines import NCCEstimator  # noqa: E402
from bundle.metrics.regions import regions_from_sidecar  # noqa: E402
from bundle.strain import axial_strain  # noqa: E402


@pytest.mark.parametrize("probe", list(mfs.PROBES))
def test_every_lesion_has_target_and_background_regions_at_every_probe(probe):
    setting = mfs.PROBES[probe]
    geometry = mfs.probe_geometry(setting, mfs.probe_param(setting))
    shape = (geometry["z_mm"].size, geometry["x_mm"].size)
    spacing = (float(np.diff(geometry["z_mm"][:2])[0]), setting.line_pitch_mm)
    for phantom in fp.PHANTOMS:
        inclusion = fp.image_inclusion(phantom, float(geometry["x_mm"][0]))
        regions = regions_from_sidecar({"inclusion": inclusion}, shape, spacing)  # raises when one does not fit
        # the target lies inside the lesion in world coordinates: pixel (i, j) -> (z_mm[i], x_mm[j])
        ii, jj = np.nonzero(regions.target)
        z, x = geometry["z_mm"][ii], geometry["x_mm"][jj]
        assert np.all(np.hypot(z - phantom.center_mm[0], x - phantom.center_mm[1]) <= phantom.radius_mm - 0.99)


def test_closed_form_strain_is_the_depth_derivative_of_the_displacement():
    phantom = fp.PHANTOMS[3]  # 5x stiff, r 2 mm, off axis
    z = np.linspace(5.0, 20.0, 1501)[:, None]
    x = np.array([[-6.0, -3.5, 0.0, 4.0]])
    uz, _ = fp.displacement_at(phantom, z, x, 0.02)
    strain = fp.axial_strain_at(phantom, z, x, 0.02)
    numeric = np.gradient(uz, z[:, 0], axis=0)
    away = np.abs(np.hypot(z - phantom.center_mm[0], x - phantom.center_mm[1]) - phantom.radius_mm) > 0.05
    np.testing.assert_allclose(numeric[away], strain[away], atol=1e-5)  # 0.01 mm central differences
    far = fp.axial_strain_at(phantom, np.array([40.0]), np.array([25.0]), 0.02)  # 40 mm from the lesion
    assert far[0] == pytest.approx(-0.02, rel=0.01)  # far field: the applied compression
    inside = np.hypot(z - 9.0, x + 3.5) < 1.0
    assert -0.02 < strain[inside].mean() < -0.002  # a 5x stiff lesion strains far less


@pytest.mark.slow
def test_layered_phantom_lesion_reads_stiff_against_its_own_layer():
    """Finite elements of the layered phantom: the 3x lesion strains about as much less than the middle layer
    beside it as the closed-form inclusion does in an infinite plane (0.45 of the strain beside it at the same
    points); the bonded layers differ less than their moduli, since nearly incompressible wide layers share
    their lateral strain."""
    from bundle.simulation.mechanics import Inclusion, axial_strain_field

    phantom = fp.PHANTOMS[-1]
    assert phantom.layered
    (zc, xc), beside = phantom.center_mm, (phantom.center_mm[0], 3.0)
    inside, outside = (fp.axial_strain_at(phantom, z, x, 0.01) for z, x in (phantom.center_mm, beside))
    ratio = float(inside / outside)
    inclusion = Inclusion(phantom.center_mm, phantom.radius_mm, phantom.stiffness_ratio)
    closed = axial_strain_field(zc, xc, 0.01, inclusion, poisson_ratio=fp.POISSON_RATIO)
    closed_ratio = float(closed / axial_strain_field(*beside, 0.01, inclusion, poisson_ratio=fp.POISSON_RATIO))
    assert closed_ratio == pytest.approx(0.45, abs=0.01)
    assert ratio == pytest.approx(closed_ratio, rel=0.2)  # measured 0.381
    # every layer compresses; the softest (bottom) layer most
    x = np.array([[5.0]])
    top, middle, bottom = (fp.axial_strain_at(phantom, np.array([[z]]), x, 0.01).item() for z in (7.0, 12.5, 18.5))
    assert max(top, middle, bottom) < 0 and bottom < 1.2 * min(top, middle)


@pytest.mark.slow
def test_ncc_recovers_a_uniform_compression_of_simus_delay_and_sum_rf():
    setting = dataclasses.replace(mfs.PROBES["L11-5V"], elements=40)
    param = mfs.probe_param(setting)
    depth, half_width = (8.0, 14.0), 2.4
    geometry = mfs.probe_geometry(setting, param, depth_mm=depth, half_width_mm=half_width)
    rng = np.random.default_rng(7)
    n = 3000
    z, x = rng.uniform(6.5, 15.5, n), rng.uniform(-3.4, 3.4, n)
    rc = rng.standard_normal(n)
    uniform = fp.ForeignPhantom("uniform", (11.0, 0.0), 1.0, 1.0)  # stiffness ratio 1: uniform compression
    uz, ux = fp.displacement_at(uniform, z, x, 0.01)
    record = geometry["record_samples"]
    pre = mfs.channel_rf(param, z, x, rc, record, np.random.default_rng(1), image_depth_mm=depth)
    post = mfs.channel_rf(param, z + uz, x + ux, rc, record, np.random.default_rng(2), image_depth_mm=depth)
    das = mfs.das_matrix(param, geometry, setting.receive_fnumber)
    frames = [mfs.beamform(das, channel, geometry) for channel in (pre, post)]
    acquisition = Acquisition(geometry["fs_out"], geometry["fc"], mfs.SPEED_OF_SOUND_M_S, setting.line_pitch_mm)
    displacement = NCCEstimator().estimate(frames[0], frames[1][None], acquisition)
    strain = axial_strain(displacement[0, 0], acquisition.axial_spacing_mm, kernel_mm=2.5)
    h, w = strain.shape
    centre = strain[h // 5 : -h // 5, 3:-3]
    assert np.median(centre) == pytest.approx(-0.01, rel=0.05)
    # the ground truth of the set is the same field evaluated at the pre frame's pixels
    gt = fp.axial_strain_at(uniform, geometry["z_mm"][:, None], geometry["x_mm"][None, :], 0.01)
    np.testing.assert_allclose(gt, -0.01, atol=1e-6)

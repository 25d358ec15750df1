"""The closed-form inclusion solution against the facts it must satisfy (metrics.md)."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.errors import ElastographyInputError
from bundle.simulation.mechanics import Inclusion, axial_strain_field, displacement_mm

CENTER = (20.0, 19.0)


@pytest.mark.parametrize("stiffness, ratio", [(2, 0.663), (3, 0.496), (4, 0.396), (5, 0.330), (10, 0.180)])
def test_strain_ratio_matches_published_table(stiffness, ratio):
    inc = Inclusion(CENTER, 5.0, stiffness)
    inside = axial_strain_field(np.array([CENTER[0]]), np.array([CENTER[1]]), 0.01, inc)
    far = axial_strain_field(np.array([CENTER[0]]), np.array([CENTER[1] + 1e4]), 0.01, inc)
    assert far[0] == pytest.approx(-0.01, rel=1e-4)
    assert inside[0] / far[0] == pytest.approx(ratio, abs=6e-4)


def test_strain_is_uniform_inside_the_inclusion():
    inc = Inclusion(CENTER, 5.0, 3.0)
    rng = np.random.default_rng(0)
    r, t = 4.9 * np.sqrt(rng.random(200)), 2 * np.pi * rng.random(200)
    e = axial_strain_field(CENTER[0] + r * np.sin(t), CENTER[1] + r * np.cos(t), 0.01, inc)
    assert np.ptp(e) < 1e-8


@pytest.mark.parametrize("stiffness", [0.25, 3.0])
def test_displacement_is_continuous_across_the_boundary(stiffness):
    inc = Inclusion(CENTER, 5.0, stiffness)
    t = np.linspace(0, 2 * np.pi, 37)
    inner = displacement_mm(CENTER[0] + 4.99999 * np.sin(t), CENTER[1] + 4.99999 * np.cos(t), 0.02, inc)
    outer = displacement_mm(CENTER[0] + 5.00001 * np.sin(t), CENTER[1] + 5.00001 * np.cos(t), 0.02, inc)
    np.testing.assert_allclose(inner, outer, atol=1e-6)


def test_probe_surface_above_the_lesion_does_not_move():
    uz, ux = displacement_mm(np.array([0.0]), np.array([CENTER[1]]), 0.03, Inclusion(CENTER, 4.0, 3.0))
    assert abs(uz[0]) < 1e-12 and abs(ux[0]) < 1e-12


def test_uniform_compression_is_linear_with_plane_strain_lateral_expansion():
    z, x = np.meshgrid(np.linspace(0, 40, 5), np.linspace(0, 38, 5), indexing="ij")
    uz, ux = displacement_mm(z, x, 0.01, None, lateral_center_mm=19.0, poisson_ratio=0.495)
    np.testing.assert_allclose(uz, -0.01 * z, atol=1e-12)
    # plane strain, sigma_xx = 0: e_xx = -nu / (1 - nu) * e_zz
    np.testing.assert_allclose(ux, 0.495 / 0.505 * 0.01 * (x - 19.0), atol=1e-12)


def test_displacement_scales_linearly_with_applied_strain():
    inc = Inclusion(CENTER, 3.0, 0.3)
    z, x = np.array([5.0, 18.0, 30.0]), np.array([3.0, 21.0, 35.0])
    a = np.array(displacement_mm(z, x, 0.005, inc))
    b = np.array(displacement_mm(z, x, 0.025, inc))
    np.testing.assert_allclose(b, 5 * a, rtol=1e-10)


def test_bad_arguments_are_refused():
    with pytest.raises(ElastographyInputError):
        Inclusion(CENTER, -1.0, 3.0)
    with pytest.raises(ElastographyInputError):
        Inclusion(CENTER, 2.0, 0.0)
    with pytest.raises(ElastographyInputError):
        displacement_mm(np.zeros(1), np.zeros(1), 0.7)

"""Finite-element mechanics against the closed-form circular inclusion (bundle/simulation/mechanics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.simulation.fem import random_modulus_map, solve_compression
from bundle.simulation.mechanics import Inclusion, axial_strain_field, displacement_mm

SPACING = (0.1, 0.1)  # mm; 401 x 401 pixels = a 40 x 40 mm block
SHAPE = (401, 401)
CENTER = (20.0, 20.0)
RADIUS = 3.0
STRAIN = 0.01  # 1 % compression


def _grid():
    return np.meshgrid(np.arange(SHAPE[0]) * SPACING[0], np.arange(SHAPE[1]) * SPACING[1], indexing="ij")


def _compare(stiffness_ratio, nu):
    zz, xx = _grid()
    r = np.hypot(zz - CENTER[0], xx - CENTER[1])
    mu = np.where(r < RADIUS, stiffness_ratio, 1.0)
    fem = solve_compression(mu, SPACING, poisson_ratio=nu, axial_strain=-STRAIN, element_mm=0.4)
    inclusion = Inclusion(CENTER, RADIUS, stiffness_ratio)
    exact = axial_strain_field(zz, xx, STRAIN, inclusion, poisson_ratio=nu)
    inside, ring = r < 0.8 * RADIUS, (r > 2 * RADIUS) & (r < 3 * RADIUS)
    ratio_fem = fem.axial_strain[inside].mean() / fem.axial_strain[ring].mean()
    ratio_exact = exact[inside].mean() / exact[ring].mean()
    uz, ux = displacement_mm(zz, xx, STRAIN, inclusion, poisson_ratio=nu)
    window = r < 10.0  # away from the block's boundaries, where the infinite-plane solution does not apply
    ez, ex = fem.axial_mm[window] - uz[window], fem.lateral_mm[window] - ux[window]
    rmse = np.sqrt(np.mean((ez - ez.mean()) ** 2 + (ex - ex.mean()) ** 2))  # rigid offset removed
    return ratio_fem, ratio_exact, rmse


@pytest.mark.parametrize(
    ("stiffness_ratio", "nu"),
    [(3.0, 0.495), (1.0 / 3.0, 0.495), (3.0, 0.499)],  # 0.499: the mixed form does not lock
)
def test_strain_ratio_and_displacement_match_closed_form(stiffness_ratio, nu):
    ratio_fem, ratio_exact, rmse = _compare(stiffness_ratio, nu)
    # measured: 3x -0.30 %, 1/3x +0.19 %, 3x at nu 0.499 -0.31 %; RMSE 0.52, 0.71, 0.52 um (peak u_z ~0.3 mm)
    assert ratio_fem / ratio_exact == pytest.approx(1.0, abs=0.02)
    assert 0.1 < ratio_exact < 10 and abs(np.log(ratio_exact)) > 0.3  # the lesion really changes the strain
    assert rmse < 1.5e-3  # mm


def test_homogeneous_block_strains_uniformly():
    fem = solve_compression(np.full((201, 201), 2.5), (0.2, 0.2), poisson_ratio=0.495, axial_strain=-STRAIN)
    interior = fem.axial_strain[2:-2, 2:-2]
    np.testing.assert_allclose(interior, -STRAIN, rtol=5e-3)
    assert fem.axial_mm[0].max() == pytest.approx(0.0, abs=1e-9)  # probe surface still
    np.testing.assert_allclose(fem.axial_mm[-1], -STRAIN * 40.0, rtol=1e-9)
    # plane-strain lateral expansion nu / (1 - nu) * strain about the pinned centre, as in the closed form
    zz, xx = np.meshgrid(np.arange(201) * 0.2, np.arange(201) * 0.2, indexing="ij")
    _, ux = displacement_mm(zz, xx, STRAIN, None, lateral_center_mm=20.0, poisson_ratio=0.495)
    np.testing.assert_allclose(fem.lateral_mm, ux, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shear_modulus": np.zeros((10, 10))},
        {"shear_modulus": -np.ones((10, 10))},
        {"poisson_ratio": 0.5},
        {"poisson_ratio": -0.1},
        {"spacing_mm": (0.0, 0.1)},
        {"spacing_mm": (0.1, -1.0)},
        {"element_mm": 0.0},
        {"axial_strain": 0.7},
        {"shear_modulus": np.ones(10)},
    ],
)
def test_bad_arguments_raise_value_error(kwargs):
    args = {"shear_modulus": np.ones((10, 10)), "spacing_mm": (0.1, 0.1)} | kwargs
    with pytest.raises(ValueError):
        solve_compression(**args)


def test_random_modulus_map_is_reproducible_and_in_range():
    maps = [random_modulus_map((200, 100), (0.2, 0.4), np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(maps[0], maps[1])
    other = random_modulus_map((200, 100), (0.2, 0.4), np.random.default_rng(8))
    assert not np.array_equal(maps[0], other)
    m = random_modulus_map((200, 100), (0.2, 0.4), np.random.default_rng(1), num_layers=(0, 0), num_inclusions=(1, 1))
    values = np.unique(m)
    assert len(values) == 2 and 1.0 in values
    assert 0.2 <= m.min() and m.max() <= 6.0
    with pytest.raises(ValueError):
        random_modulus_map((200, 100), (0.0, 0.4), np.random.default_rng(1))

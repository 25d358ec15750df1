"""Known answers of strain NRMSE, displacement RMSE and strain ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bundle.errors import ElastographyInputError
from bundle.metrics import displacement_rmse_um, strain_nrmse, strain_ratio, strain_ratio_error


def test_nrmse_of_ten_percent_overestimate():
    true = np.full((20, 10), -0.01)
    assert strain_nrmse(true * 1.1, true, np.ones((20, 10), dtype=bool)) == pytest.approx(0.1, rel=1e-12)


def test_nrmse_only_counts_valid_region():
    true = np.full((20, 10), -0.01)
    est = true.copy()
    est[:2] = 5.0  # wrong border rows, left out by the valid mask
    valid = np.ones_like(true, dtype=bool)
    valid[:2] = False
    assert strain_nrmse(est, true, valid) == 0.0
    assert strain_nrmse(est, true) > 1.0


def test_nrmse_undefined_and_bad_shapes():
    assert math.isnan(strain_nrmse(np.ones((4, 4)), np.zeros((4, 4))))
    with pytest.raises(ElastographyInputError):
        strain_nrmse(np.ones((4, 4)), np.ones((4, 5)))


def test_displacement_rmse_of_one_micrometre_offset():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(2, 16, 8)) * 0.05
    est = true + np.array([1e-3, -1e-3])[:, None, None]  # +1 um axial, -1 um lateral
    valid = np.ones((16, 8), dtype=bool)
    axial, lateral = displacement_rmse_um(est, true, valid)
    assert axial == pytest.approx(1.0, rel=1e-9)
    assert lateral == pytest.approx(1.0, rel=1e-9)
    est[1] = true[1]
    assert displacement_rmse_um(est, true)[1] == 0.0


def test_displacement_rmse_rejects_wrong_shape():
    with pytest.raises(ElastographyInputError):
        displacement_rmse_um(np.zeros((3, 4, 4)), np.zeros((3, 4, 4)))


def test_strain_ratio_synthetic():
    strain = np.full((30, 30), -0.01)
    target = np.zeros((30, 30), dtype=bool)
    target[5:10, 5:10] = True
    strain[target] = -0.005
    background = np.zeros_like(target)
    background[5:10, 20:25] = True
    assert strain_ratio(strain, target, background) == pytest.approx(0.5, rel=1e-12)
    assert math.isnan(strain_ratio(strain, np.zeros_like(target), background))


def test_strain_ratio_error():
    assert strain_ratio_error(0.55, 0.5) == pytest.approx(0.1)
    assert strain_ratio_error(0.45, 0.5) == pytest.approx(0.1)
    assert math.isnan(strain_ratio_error(0.5, 0.0))
    assert math.isnan(strain_ratio_error(math.nan, 0.5))

"""frame_metrics: the key set, NaN where not computable, and consistency with the single figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bundle.metrics import METRIC_DESCRIPTIONS, frame_metrics, phantom_regions, snr
from bundle.simulation.mechanics import Inclusion

KEYS = [
    "snr_t",
    "snr_b",
    "snr_e",
    "cnr",
    "cnr_e",
    "strain_nrmse",
    "disp_rmse_axial_um",
    "disp_rmse_lateral_um",
    "strain_ratio_est",
    "strain_ratio_true",
    "strain_ratio_error",
    "warped_ncc",
]
SHAPE, SPACING = (512, 128), (0.077, 0.3)


def test_descriptions_cover_exactly_the_keys():
    assert list(METRIC_DESCRIPTIONS) == KEYS
    assert "root" in METRIC_DESCRIPTIONS["cnr"] and "no root" in METRIC_DESCRIPTIONS["cnr_e"]


def test_uniform_phantom_leaves_target_figures_nan():
    rng = np.random.default_rng(2)
    strain = -0.01 + 0.001 * rng.normal(size=SHAPE)
    regions = phantom_regions(SHAPE, SPACING, None)
    m = frame_metrics(strain, regions)
    assert list(m) == KEYS
    for key in ("snr_t", "cnr", "cnr_e", "strain_ratio_est", "strain_ratio_true", "warped_ncc", "strain_nrmse"):
        assert math.isnan(m[key])
    assert m["snr_e"] == m["snr_b"] == pytest.approx(snr(strain[regions.background]))
    assert 8.0 < m["snr_e"] < 12.0


def test_lesion_phantom_all_figures():
    rng = np.random.default_rng(3)
    inc = Inclusion((20.0, 12.0), 4.0, 3.0)
    regions = phantom_regions(SHAPE, SPACING, inc)
    true = np.full(SHAPE, -0.01)
    true[regions.geometry.lesion.mask(SHAPE, SPACING)] = -0.005
    est = true + 0.0005 * rng.normal(size=SHAPE)
    u_true = rng.normal(size=(2, *SHAPE)) * 0.01
    u_est = u_true + np.array([1e-3, 2e-3])[:, None, None]
    frame = rng.normal(size=SHAPE)
    m = frame_metrics(est, regions, true, u_est, u_true, frame, frame)
    assert all(math.isfinite(v) for v in m.values())
    assert m["snr_e"] == m["snr_b"]
    assert m["cnr_e"] == pytest.approx(m["cnr"] ** 2)
    assert m["strain_ratio_true"] == pytest.approx(0.5)
    assert m["disp_rmse_axial_um"] == pytest.approx(1.0) and m["disp_rmse_lateral_um"] == pytest.approx(2.0)
    assert m["strain_ratio_error"] < 0.05 and m["strain_nrmse"] < 0.1
    assert 0.0 < m["warped_ncc"] < 1.0  # frame warped by a 1-2 um shift against itself: close to, below 1


def test_shape_mismatch_raises():
    regions = phantom_regions(SHAPE, SPACING, None)
    with pytest.raises(ValueError):
        frame_metrics(np.zeros((10, 10)), regions)

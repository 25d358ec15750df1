"""Cross-level spread: zero for proportional maps, hand-computed values for constructed ones, NaN when undefined."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bundle.metrics import phantom_regions
from bundle.metrics.consistency import SEQUENCE_METRIC_DESCRIPTIONS, cross_level_spread
from bundle.simulation import PhantomConfig, simulate_sequence
from bundle.simulation.mechanics import Inclusion

SHAPE, SPACING = (100, 60), (0.1, 0.2)  # 10 x 12 mm
LESION = Inclusion((5.0, 4.0), 1.5, 3.0)


@pytest.fixture(scope="module")
def regions():
    r = phantom_regions(SHAPE, SPACING, LESION, border_mm=2.0)
    # the geometry the hand computations rely on: a 43-pixel target and background inside a 3360-pixel valid box
    assert r.to_dict()["pixels"] == {"target": 43, "background": 43, "valid": 3360}
    assert not (r.target & r.background).any()
    return r


def test_proportional_maps_have_zero_spread(regions):
    rng = np.random.default_rng(0)
    pattern = 1.0 + 0.5 * rng.random(SHAPE)
    strains = -np.array([0.005, 0.01, 0.03])[:, None, None] * pattern  # compression: negative strain
    assert cross_level_spread(strains, regions) == pytest.approx(0.0, abs=1e-12)


def test_two_levels_differing_on_the_target(regions):
    """n_1 = 1 everywhere, n_2 = 1.2 on the target and 1 elsewhere: std 0.1 on the target, 0 elsewhere."""
    second = np.ones(SHAPE)
    second[regions.target] = 1.2
    strains = np.stack([-0.01 * np.ones(SHAPE), -0.02 * second])
    assert cross_level_spread(strains, regions) == pytest.approx(0.1 * 43 / 3360, rel=1e-9)


def test_two_levels_differing_outside_the_background(regions):
    """n_2 = 1.2 on every valid pixel outside the background (its mean stays 1): spread 0.1 x that share."""
    second = np.where(regions.background, 1.0, 1.2)
    strains = np.stack([-0.01 * np.ones(SHAPE), -0.02 * second])
    assert cross_level_spread(strains, regions) == pytest.approx(0.1 * (3360 - 43) / 3360, rel=1e-9)


def test_three_levels_use_the_population_std(regions):
    """Normalised values (1, 1, 1.3) on the target: mean 1.1, variance (0.01 + 0.01 + 0.04) / 3 = 0.02."""
    third = np.ones(SHAPE)
    third[regions.target] = 1.3
    strains = np.stack([0.01 * np.ones(SHAPE), 0.015 * np.ones(SHAPE), 0.02 * third])
    expected = math.sqrt(0.02) * 43 / 3360
    assert cross_level_spread(strains, regions) == pytest.approx(expected, rel=1e-9)
    # unitless: a common scale (or sign) of every map changes nothing
    assert cross_level_spread(-7.0 * strains, regions) == pytest.approx(expected, rel=1e-9)


def test_undefined_cases_give_nan(regions):
    one = np.ones((1, *SHAPE))
    assert math.isnan(cross_level_spread(one, regions))  # T = 1
    zero_background = np.ones((2, *SHAPE))
    zero_background[1][regions.background] = 0.0
    assert math.isnan(cross_level_spread(zero_background, regions))
    not_finite = np.ones((2, *SHAPE))
    not_finite[0, regions.background] = np.nan
    assert math.isnan(cross_level_spread(not_finite, regions))
    with pytest.raises(ValueError, match=r"strains must be \(T, H, W\)"):
        cross_level_spread(np.ones((2, 50, 60)), regions)
    with pytest.raises(ValueError, match=r"strains must be \(T, H, W\)"):
        cross_level_spread(np.ones(SHAPE), regions)


def test_uniform_phantom_normalises_by_the_central_window():
    regions = phantom_regions(SHAPE, SPACING, None)
    first = np.ones(SHAPE)
    second = np.where(regions.background, 1.0, 1.5)
    n_valid, n_bg = int(regions.valid.sum()), int(regions.background.sum())
    expected = 0.25 * (n_valid - n_bg) / n_valid
    assert cross_level_spread(np.stack([first, 2.0 * second]), regions) == pytest.approx(expected, rel=1e-9)


def test_simulated_ground_truth_is_proportional(acquisition):
    """Linear elasticity: the true strain of every level is the applied strain times one pattern."""
    config = PhantomConfig(shape=(256, 32), acquisition=acquisition)
    lesion = Inclusion((2.45, 3.0), 1.5, 3.0)
    seq = simulate_sequence(config, lesion, (0.005, 0.01, 0.02), seed=0)
    regions = phantom_regions(config.shape, acquisition.spacing_mm, lesion, border_mm=0.5)
    # the lesion makes the pattern non-uniform (stiff: less strain on the target than in the background)
    target, background = seq.strain[0][regions.target].mean(), seq.strain[0][regions.background].mean()
    assert abs(target) < 0.8 * abs(background)
    assert cross_level_spread(seq.strain, regions) < 1e-6
    # a softer lesion at the last level breaks the proportionality, and the spread sees it
    soft = simulate_sequence(config, Inclusion((2.45, 3.0), 1.5, 0.5), (0.02,), seed=0)
    mixed = np.concatenate([seq.strain[:2], soft.strain])
    assert cross_level_spread(mixed, regions) > 0.01


def test_the_metric_is_described():
    assert "cross_level_spread" in SEQUENCE_METRIC_DESCRIPTIONS

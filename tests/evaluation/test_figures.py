"""Colour range of a comparison figure (one pair, several estimators): the applied strain when known, else robust
over the panels; one estimator's noisy last rows must not empty every other panel."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bundle.display import strain_display_range
from bundle.plotting import comparison_display_range, strain_panel_figure

SHAPE = (100, 40)


def _estimate(seed: int, level: float = -0.01) -> np.ndarray:
    """A uniform compression ``level`` with a stiffer block (0.4 x) and 5 % noise: an estimator's strain map."""
    rng = np.random.default_rng(seed)
    strain = np.full(SHAPE, level)
    strain[40:60, 15:25] *= 0.4
    return strain * (1.0 + 0.05 * rng.standard_normal(SHAPE))


@pytest.fixture
def panels():
    """Three estimators of one 1 % pair; the third decorrelates at the last 10 rows (+-40 % peak-hopping)."""
    maps = [_estimate(seed) for seed in range(3)]
    clean = [m.copy() for m in maps]
    maps[2][-10:] = 0.4 * np.random.default_rng(9).choice([-1.0, 1.0], size=(10, SHAPE[1]))
    return maps, clean


def test_noisy_last_rows_of_one_panel_do_not_change_the_range(panels):
    maps, clean = panels
    low, high = comparison_display_range(maps)
    assert (low, high) == pytest.approx(comparison_display_range(clean), abs=0.02)
    # the median panel's 2nd-98th percentiles of |strain| in %: the block at 0.4 %, the background up to 1.1 %
    assert 0.35 < low < 0.45 and 1.05 < high < 1.15
    # the pooled 1st-99th percentile (what the comparison figures used until now) is set by the noise: 40 %
    assert strain_display_range(maps)[1] > 39.0
    # two panels, one of them noisy: the narrower range, the clean panel's
    assert comparison_display_range([maps[0], maps[2]]) == pytest.approx(comparison_display_range([clean[0]]))


def test_the_applied_or_true_strain_sets_the_range_when_known(panels):
    maps, _ = panels
    assert comparison_display_range(maps, applied_strain=0.01) == pytest.approx((0.0, 2.0))
    assert comparison_display_range(maps, applied_strain=-0.02) == pytest.approx((0.0, 4.0))  # either sign
    truth = np.full(SHAPE, -0.015)
    truth[40:60, 15:25] = -0.005  # the median magnitude is the background's 1.5 %
    assert comparison_display_range(maps, ground_truth=truth) == pytest.approx((0.0, 3.0))
    assert comparison_display_range(maps, applied_strain=0.01, ground_truth=truth) == pytest.approx((0.0, 2.0))
    # nothing known and nothing finite: a default scale, not an error
    assert comparison_display_range([np.full(SHAPE, np.nan)]) == (0.0, 1.0)
    # uniform maps that disagree: their whole span; that agree: a 1 % wide scale around them
    assert comparison_display_range([np.full(SHAPE, -0.01), np.full(SHAPE, -0.03)]) == pytest.approx((1.0, 3.0))
    assert comparison_display_range([np.full(SHAPE, -0.01)] * 2) == pytest.approx((0.5, 1.5))


def test_the_range_reaches_the_figure(panels):
    maps, _ = panels
    rf = np.random.default_rng(0).standard_normal(SHAPE)
    scale = comparison_display_range(maps, applied_strain=0.01)
    fig = strain_panel_figure(rf, {f"e{k}": m for k, m in enumerate(maps)}, (0.02, 0.3), display_range=scale)
    assert [ax.get_images()[0].get_clim() for ax in fig.axes[1:4]] == [pytest.approx((0.0, 2.0))] * 3
    plt.close(fig)

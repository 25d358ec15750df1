"""Warping the post frame by a displacement and the warped NCC."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.errors import ElastographyInputError
from bundle.metrics import warp_post, warped_ncc

SPACING = (0.05, 0.3)
SHAPE = (96, 48)


def _pattern(shift_mm=(0.0, 0.0)):
    # smooth pattern f(z - s_z, x - s_x): tissue moved by +s, so post at x + s equals pre at x
    z = np.arange(SHAPE[0])[:, None] * SPACING[0] - shift_mm[0]
    x = np.arange(SHAPE[1])[None, :] * SPACING[1] - shift_mm[1]
    return np.sin(2 * np.pi * z / 0.4) * np.cos(2 * np.pi * x / 3.0) + 0.5 * np.sin(2 * np.pi * (z / 0.7 + x / 5.0))


def _valid():
    valid = np.zeros(SHAPE, dtype=bool)
    valid[8:-8, 4:-4] = True
    return valid


def test_identity_warp_gives_ncc_one():
    rng = np.random.default_rng(1)
    frame = rng.normal(size=SHAPE)
    assert np.allclose(warp_post(frame, np.zeros((2, *SHAPE)), SPACING), frame)
    assert warped_ncc(frame, frame, np.zeros((2, *SHAPE)), SPACING) == pytest.approx(1.0, abs=1e-12)


def test_known_subsample_shift_is_undone():
    shift = (0.4 * SPACING[0], 0.3 * SPACING[1])
    pre, post = _pattern(), _pattern(shift)
    u = np.empty((2, *SHAPE))
    u[0], u[1] = shift
    matched = warped_ncc(pre, post, u, SPACING, _valid())
    unmatched = warped_ncc(pre, post, np.zeros_like(u), SPACING, _valid())
    assert matched > 0.999
    assert unmatched < matched - 0.01


def test_warp_rejects_bad_input():
    with pytest.raises(ElastographyInputError):
        warp_post(np.zeros(SHAPE), np.zeros((1, *SHAPE)), SPACING)
    bad = np.zeros((2, *SHAPE))
    bad[0, 0, 0] = np.nan
    assert np.isnan(warped_ncc(np.ones(SHAPE), np.ones(SHAPE), bad, SPACING))

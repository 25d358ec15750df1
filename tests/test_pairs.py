"""Frame-pair selection on a freehand-like sequence with known compression steps."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.acquisition import Acquisition
from bundle.errors import ElastographyInputError
from bundle.io.frames import RFFrames
from bundle.pairs import coarse_estimate, frame_pairs, select_frame_pairs
from bundle.simulation import PhantomConfig, simulate_sequence

ACQ = Acquisition(40e6, 5e6, 1540.0, 0.3)


@pytest.fixture(scope="module")
def push():
    """Frames at 0, 0.3, 0.6, 0.9, 1.2, 1.5 % uniform compression (512 x 48)."""
    levels = (0.003, 0.006, 0.009, 0.012, 0.015)
    seq = simulate_sequence(PhantomConfig(shape=(512, 48), acquisition=ACQ), None, levels, seed=5)
    return seq.rf, np.array((0.0, *levels))


def test_coarse_strain_and_correlation(push):
    rf, levels = push
    pairs = coarse_estimate(rf, [(0, 1), (0, 3), (3, 0), (2, 2)])
    # relative strain between frames a and b of a uniform compression: -(l_b - l_a) / (1 - l_a)
    for p in pairs[:3]:
        expected = -(levels[p.post] - levels[p.pre]) / (1 - levels[p.pre])
        assert p.mean_strain == pytest.approx(expected, abs=0.0015), p
    assert pairs[2].mean_strain > 0  # release (post before pre) has the opposite sign
    assert pairs[3].mean_strain == pytest.approx(0.0, abs=5e-4) and pairs[3].correlation > 0.99
    assert pairs[1].correlation < pairs[0].correlation  # more strain, more decorrelation


def test_auto_selection_targets_one_percent(push):
    rf, levels = push
    chosen = select_frame_pairs(rf, target_strain=0.01)
    assert chosen, "no pair selected"
    for p in chosen:
        assert 0.002 <= abs(p.mean_strain) <= 0.03
        steps = levels[p.pre + 1 :] - levels[p.pre]
        assert p.post == p.pre + 1 + int(np.argmin(np.abs(steps - 0.01)))  # the available step nearest 1 %
    several = select_frame_pairs(rf, per_pre=3)
    assert max(sum(p.pre == q.pre for q in several) for p in several) == 3


def test_modes_and_errors(push):
    rf, _ = push
    frames = RFFrames(rf, ACQ)
    assert [(p.pre, p.post) for p in frame_pairs(frames, "first")] == [(0, k) for k in range(1, 6)]
    assert [(p.pre, p.post) for p in frame_pairs(frames, "consecutive")][:2] == [(0, 1), (1, 2)]
    assert [(p.pre, p.post) for p in frame_pairs(frames, ((4, 1),))] == [(4, 1)]
    with pytest.raises(ElastographyInputError, match="outside"):
        frame_pairs(frames, ((0, 9),))
    still = RFFrames(np.stack([rf[0]] * 4), ACQ)  # a probe that never moved: nothing to compare
    with pytest.raises(ElastographyInputError, match="no usable frame pair"):
        frame_pairs(still, "auto")
    with pytest.raises(ElastographyInputError, match="single frame"):
        frame_pairs(RFFrames(rf[:1], ACQ), "auto")

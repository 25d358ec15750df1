"""What training does differently when the data have no ground truth: the one home of that policy.

``configs/train.json`` trains on any folder (:func:`bundle.training.dataset_splits`). With ground-truth strain
in every validation entry (simulated data) it trains from scratch and keeps the checkpoint of lowest strain
NRMSE; without it (a site's own RF, docs/hospital_data.md section 4) it fine-tunes the shipped weights at a
tenth of the learning rate and keeps the checkpoint of highest warped NCC. The config asks
:func:`ground_truth_policy` once and reads every setting that depends on it from the answer; each setting can
still be overridden on the command line (``--learning_rate``, ``--pretrained_checkpoint``, ...).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TrainingPolicy", "ground_truth_policy"]

#: checkpoint (relative to the bundle root) and key prefix a fine-tune without ground truth starts from
SHIPPED_CHECKPOINT = "/models/model.pt"
SHIPPED_STAGE_ONE_PREFIX = "stage_one."


@dataclass(frozen=True)
class TrainingPolicy:
    """The training settings that depend on whether the validation data have ground truth.

    Attributes:
        learning_rate: Adam learning rate (1e-3 from scratch, 1e-4 when fine-tuning).
        pretrained_checkpoint: weights to start from; ``""`` trains from scratch.
        pretrained_prefix: key prefix of the network's weights inside ``pretrained_checkpoint``.
        key_metric_name: the validation metric that selects the best checkpoint.
        higher_is_better: whether a larger ``key_metric_name`` is better.
    """

    learning_rate: float
    pretrained_checkpoint: str
    pretrained_prefix: str
    key_metric_name: str
    higher_is_better: bool

    @property
    def metric_cmp_fn(self) -> Callable[[float, float], bool]:
        """``metric_cmp_fn(current, best)`` for MONAI's evaluator: True when ``current`` is better."""
        return operator.gt if self.higher_is_better else operator.lt


def ground_truth_policy(has_ground_truth: bool, bundle_root: str = ".") -> TrainingPolicy:
    """The settings of ``configs/train.json`` for data with (``True``) or without (``False``) ground truth.

    Args:
        has_ground_truth: every validation entry has ground-truth strain (``train.json``'s ``has_ground_truth``).
        bundle_root: the bundle folder; the shipped weights are ``<bundle_root>/models/model.pt``.

    Returns:
        with ground truth: learning rate 1e-3, no pretrained weights, best checkpoint by lowest
        ``val_strain_nrmse``; without: learning rate 1e-4, stage one of the shipped MUSSE-Net
        (prefix ``stage_one.``), best checkpoint by highest ``val_warped_ncc``.
    """
    if has_ground_truth:
        return TrainingPolicy(0.001, "", "", "val_strain_nrmse", higher_is_better=False)
    return TrainingPolicy(
        0.0001, bundle_root + SHIPPED_CHECKPOINT, SHIPPED_STAGE_ONE_PREFIX, "val_warped_ncc", higher_is_better=True
    )

"""Ignite metrics that average the toolkit's per-frame figures and the loss terms over an epoch."""

from __future__ import annotations

import math

from ignite.metrics import Metric

__all__ = ["FrameMetricMean", "OutputMean"]


class _FiniteMean(Metric):
    """Mean of the finite values handed to ``_add`` since the last reset (NaN when there were none)."""

    def __init__(self, key: str, output_transform=lambda x: x, device="cpu"):
        self.key = key
        super().__init__(output_transform=output_transform, device=device)

    def reset(self):
        self._sum, self._count = 0.0, 0

    def _add(self, value) -> None:
        value = float(value)
        if math.isfinite(value):  # a frame without a lesion has no CNR: skip it rather than poison the mean
            self._sum += value
            self._count += 1

    def compute(self):
        return self._sum / self._count if self._count else math.nan


class FrameMetricMean(_FiniteMean):
    """Mean of ``row[key]`` over the metric rows an evaluator puts in ``engine.state.output[0]["rows"]``."""

    def update(self, output):
        for row in output[0]["rows"]:
            self._add(row[self.key])


class OutputMean(_FiniteMean):
    """Mean of ``engine.state.output[0][key]`` over an epoch (e.g. one loss term of the trainer)."""

    def update(self, output):
        self._add(output[0][self.key])

"""Ignite metrics that average the toolkit's per-frame figures over an epoch (NaN frames are skipped)."""

from __future__ import annotations

import math

from ignite.metrics import Metric

__all__ = ["FrameMetricMean", "OutputMean"]


class FrameMetricMean(Metric):
    """Mean of ``row[key]`` over the metric rows an evaluator puts in ``engine.state.output[0]["rows"]``."""

    def __init__(self, key: str, output_transform=lambda x: x, device="cpu"):
        self.key = key
        super().__init__(output_transform=output_transform, device=device)

    def reset(self):
        self._sum, self._count = 0.0, 0

    def update(self, output):
        for row in output[0]["rows"]:
            value = float(row[self.key])
            if math.isfinite(value):
                self._sum += value
                self._count += 1

    def compute(self):
        return self._sum / self._count if self._count else math.nan


class OutputMean(Metric):
    """Mean of ``engine.state.output[0][key]`` over an epoch (e.g. one loss term of the trainer)."""

    def __init__(self, key: str, output_transform=lambda x: x, device="cpu"):
        self.key = key
        super().__init__(output_transform=output_transform, device=device)

    def reset(self):
        self._sum, self._count = 0.0, 0

    def update(self, output):
        self._sum += float(output[0][self.key])
        self._count += 1

    def compute(self):
        return self._sum / self._count if self._count else math.nan

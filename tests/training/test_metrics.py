from __future__ import annotations

import math

from bundle.training import FrameMetricMean, OutputMean


def test_epoch_means_skip_nan_frames():
    metric = FrameMetricMean("cnr")
    metric.reset()
    metric.update([{"rows": [{"cnr": 2.0}, {"cnr": math.nan}, {"cnr": 4.0}]}])
    metric.update([{"rows": [{"cnr": 6.0}]}])
    assert metric.compute() == 4.0
    loss = OutputMean("similarity")
    loss.reset()
    assert math.isnan(loss.compute())
    for value in (0.5, 0.3):
        loss.update([{"similarity": value}])
    assert loss.compute() == 0.4

"""Classical displacement estimators (registered on import)."""

from bundle.baselines import ncc
from bundle.baselines.ncc import NCCEstimator

__all__ = ["NCCEstimator", "ncc"]

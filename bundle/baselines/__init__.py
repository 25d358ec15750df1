"""Classical displacement estimators (registered on import): windowed NCC, dynamic programming, GLUE-class."""

from bundle.baselines import dp, glue, ncc
from bundle.baselines.dp import DPEstimator
from bundle.baselines.glue import GLUEEstimator
from bundle.baselines.ncc import NCCEstimator

__all__ = ["DPEstimator", "GLUEEstimator", "NCCEstimator", "dp", "glue", "ncc"]

"""RF amplitude normalisation: one function per statistic, the one home of every amplitude scale.

RF amplitude differs by 25 orders of magnitude between sources (Field II ~1e-23, int16 scanners ~1e4), so
estimators, networks and losses divide it by a scale first and no threshold or epsilon depends on the source.
Two statistics are used, each for its own purpose:

- :func:`scale_by_std` -- divide by the standard deviation: RF read from files (numpy, computed in float64, so
  simulator-scale values do not underflow) and the frames of instance optimisation (torch).
- :func:`scale_by_mean_abs` -- divide by the mean absolute value: the networks' input and the similarity
  losses (torch, float32); no squaring, so ~1e-23 RF does not underflow in float32.

Torch tensors are scaled per image: the statistic is taken over the last two axes ``(H, W)`` of ``reference``
(kept as size-1 axes) and broadcast over ``x``; pass ``x[:, :1]`` as ``reference`` to scale every frame of a
``(B, 1 + T, H, W)`` pair by its pre frame.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from bundle.errors import ElastographyInputError

__all__ = ["scale_by_std", "scale_by_mean_abs"]

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)


def scale_by_std(x: ArrayOrTensor, reference: ArrayOrTensor | None = None, correction: int = 0) -> ArrayOrTensor:
    """Divide ``x`` by the standard deviation of ``reference`` (default: ``x`` itself).

    Args:
        x: a numpy array (RF from a file, any shape) or a torch tensor ``(..., H, W)``.
        reference: what the standard deviation is taken of; same kind as ``x``.
        correction: degrees of freedom subtracted from the count (0: population std, 1: sample std).

    Returns:
        numpy: ``x / std(reference)`` as float32, one scale for the whole of ``reference`` (computed in
        float64). torch: ``x / std`` with one std per image of ``reference`` (over its last two axes), clamped
        below at the smallest positive normal number of ``x``'s dtype, in ``x``'s dtype.

    Raises:
        ElastographyInputError: (numpy only) the reference has zero or non-finite variance: the data cannot be
            normalised.
    """
    ref = x if reference is None else reference
    if isinstance(x, np.ndarray):
        scale = float(np.std(np.asarray(ref).astype(np.float64), ddof=correction))
        if not np.isfinite(scale) or scale == 0.0:
            raise ElastographyInputError("RF has zero variance; cannot normalise")
        return (x.astype(np.float64) / scale).astype(np.float32)
    scale = ref.std(dim=(-2, -1), keepdim=True, correction=correction)
    return x / scale.clamp_min(torch.finfo(x.dtype).tiny)


def scale_by_mean_abs(x: torch.Tensor, reference: torch.Tensor | None = None, eps: float = 0.0) -> torch.Tensor:
    """Divide ``x`` by the mean absolute value of each image of ``reference`` (default: ``x`` itself).

    Args:
        x: ``(..., H, W)`` tensor.
        reference: ``(..., H, W)`` tensor whose per-image mean ``|.|`` (over the last two axes) broadcasts
            against ``x``; e.g. ``x[:, :1]`` scales all frames of each sample by its pre frame.
        eps: if > 0, divide by ``mean|reference| + eps`` (every network's input uses 1e-30, part of what the
            weights were trained on; written as a literal at each call, as TorchScript compiles no float
            globals); if 0, by the mean clamped below at the smallest positive normal number of
            the dtype (the similarity losses: an all-zero image stays zero).

    Returns:
        same shape and dtype as ``x``. TorchScript-compatible (the networks call it in ``forward``).
    """
    ref = x if reference is None else reference
    scale = ref.abs().mean(dim=(-2, -1), keepdim=True)
    if eps > 0.0:
        return x / (scale + eps)
    return x / scale.clamp_min(_tiny(x.dtype))


def _tiny(dtype: torch.dtype) -> float:
    """``torch.finfo(dtype).tiny`` of a floating dtype, in a form TorchScript compiles."""
    if dtype == torch.float64:
        return 2.2250738585072014e-308
    if dtype == torch.float16:
        return 6.103515625e-05
    return 1.1754943508222875e-38  # float32 and bfloat16

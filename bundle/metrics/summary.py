"""All figures of one frame in one flat dict, with a one-line description of each for table labels.

``frame_metrics`` computes every key of :data:`METRIC_DESCRIPTIONS`; a figure that cannot be computed from
what was given (no lesion, no ground truth, no RF frames) is NaN, so every row of a results table has the
same columns. SNRe is the SNR of the background window: for a uniform phantom the central window, for a
lesion phantom the background disc beside the lesion, which lies in uniform tissue, so there SNRe = SNRb.

Shapes: strain ``(H, W)`` (fraction, compression negative); displacement ``(2, H, W)`` in mm (axial, lateral);
RF/envelope frames ``(H, W)``. The valid region of ``regions`` is used for NRMSE, RMSE and warped NCC.
"""

from __future__ import annotations

import math

import numpy as np

from bundle.metrics.accuracy import displacement_rmse_um, strain_nrmse, strain_ratio, strain_ratio_error
from bundle.metrics.quality import cnr, cnr_e, region_values, snr
from bundle.metrics.regions import Regions
from bundle.metrics.warp import warped_ncc

__all__ = ["METRIC_DESCRIPTIONS", "frame_metrics"]

#: key -> one-line definition and unit; the keys and their order are those of :func:`frame_metrics`
METRIC_DESCRIPTIONS: dict[str, str] = {
    "snr_t": "SNRt: mean(|e|)/std(|e|) in the target (eroded lesion), std ddof=0; linear, unitless",
    "snr_b": "SNRb: mean(|e|)/std(|e|) in the background window beside the lesion; linear, unitless",
    "snr_e": "SNRe: elastographic SNR, mean(|e|)/std(|e|) on the uniform background window; linear, unitless",
    "cnr": "CNR (square-root form): sqrt(2(m_b-m_t)^2/(s_b^2+s_t^2)) of |e|; linear, unitless",
    "cnr_e": "CNRe (no root, Varghese & Ophir): 2(m_b-m_t)^2/(s_b^2+s_t^2) of |e|; linear, unitless (= CNR^2)",
    "strain_nrmse": "strain NRMSE: sqrt(mean((e_est-e_true)^2))/mean(|e_true|) over the valid region; fraction",
    "disp_rmse_axial_um": "axial displacement RMSE over the valid region; micrometres",
    "disp_rmse_lateral_um": "lateral displacement RMSE over the valid region; micrometres",
    "strain_ratio_est": "estimated strain ratio SR = mean|e| target / mean|e| background; unitless",
    "strain_ratio_true": "ground-truth strain ratio SR = mean|e| target / mean|e| background; unitless",
    "strain_ratio_error": "strain-ratio error |SR_est-SR_true|/SR_true; fraction",
    "warped_ncc": "NCC of the pre frame and the post frame warped by the estimated displacement, valid region; "
    "unitless in [-1, 1] (rewards over-fitting speckle: read with SNRe)",
}


def _check_shape(name: str, array, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(array)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


def frame_metrics(
    strain_est,
    regions: Regions,
    strain_true=None,
    displacement_est_mm=None,
    displacement_true_mm=None,
    pre=None,
    post=None,
    spacing_mm: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Every figure of :data:`METRIC_DESCRIPTIONS` for one frame (NaN where not computable).

    Args:
        strain_est: ``(H, W)`` estimated axial strain.
        regions: target/background/valid masks of the frame (:func:`phantom_regions`).
        strain_true: ``(H, W)`` ground-truth strain -> strain NRMSE, true strain ratio and its error.
        displacement_est_mm: ``(2, H, W)`` estimated displacement (mm) -> displacement RMSE (with the truth)
            and warped NCC (with ``pre`` and ``post``).
        displacement_true_mm: ``(2, H, W)`` ground-truth displacement (mm).
        pre, post: ``(H, W)`` frames for the warped NCC.
        spacing_mm: (axial, lateral) spacing for the warp; default the regions' spacing.

    Returns:
        ``{key: float}`` with exactly the keys of :data:`METRIC_DESCRIPTIONS`, in that order.
    """
    shape = tuple(regions.shape)
    e = _check_shape("strain_est", strain_est, shape)
    out = dict.fromkeys(METRIC_DESCRIPTIONS, math.nan)

    target = region_values(e, regions.target)
    background = region_values(e, regions.background)
    out["snr_b"] = snr(background)
    out["snr_e"] = out["snr_b"]  # the background window is the uniform-tissue window (module docstring)
    if regions.has_target:
        out["snr_t"] = snr(target)
        out["cnr"] = cnr(target, background)
        out["cnr_e"] = cnr_e(target, background)
        out["strain_ratio_est"] = strain_ratio(e, regions.target, regions.background)

    if strain_true is not None:
        t = _check_shape("strain_true", strain_true, shape)
        out["strain_nrmse"] = strain_nrmse(e, t, regions.valid)
        if regions.has_target:
            out["strain_ratio_true"] = strain_ratio(t, regions.target, regions.background)
            out["strain_ratio_error"] = strain_ratio_error(out["strain_ratio_est"], out["strain_ratio_true"])

    if displacement_est_mm is not None:
        u = _check_shape("displacement_est_mm", displacement_est_mm, (2, *shape))
        if displacement_true_mm is not None:
            ut = _check_shape("displacement_true_mm", displacement_true_mm, (2, *shape))
            out["disp_rmse_axial_um"], out["disp_rmse_lateral_um"] = displacement_rmse_um(u, ut, regions.valid)
        if pre is not None and post is not None:
            pre_a = _check_shape("pre", pre, shape)
            post_a = _check_shape("post", post, shape)
            spacing = regions.geometry.spacing_mm if spacing_mm is None else spacing_mm
            out["warped_ncc"] = warped_ncc(pre_a, post_a, u, spacing, regions.valid)
    return {k: float(v) for k, v in out.items()}

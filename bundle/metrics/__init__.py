"""Evaluation metrics of strain elastography (definitions: docs/metrics.md).

- :mod:`~bundle.metrics.regions`: target / background / valid regions in mm and their ``(H, W)`` masks.
- :mod:`~bundle.metrics.quality`: SNR, CNR (square-root form), CNRe (no root), dB.
- :mod:`~bundle.metrics.accuracy`: strain NRMSE, displacement RMSE (um), strain ratio and its error.
- :mod:`~bundle.metrics.warp`: post frame warped by a displacement estimate and the warped NCC.
- :mod:`~bundle.metrics.summary`: every figure of a frame in one dict, with descriptions for tables.
"""

from __future__ import annotations

from bundle.metrics.accuracy import displacement_rmse_um, strain_nrmse, strain_ratio, strain_ratio_error
from bundle.metrics.quality import cnr, cnr_e, region_values, snr, to_db
from bundle.metrics.regions import Box, Disc, RegionGeometry, Regions, phantom_regions, regions_from_sidecar
from bundle.metrics.summary import METRIC_DESCRIPTIONS, frame_metrics
from bundle.metrics.warp import ncc, warp_post, warped_ncc

__all__ = [
    "Box",
    "Disc",
    "METRIC_DESCRIPTIONS",
    "RegionGeometry",
    "Regions",
    "cnr",
    "cnr_e",
    "displacement_rmse_um",
    "frame_metrics",
    "ncc",
    "phantom_regions",
    "region_values",
    "regions_from_sidecar",
    "snr",
    "strain_nrmse",
    "strain_ratio",
    "strain_ratio_error",
    "to_db",
    "warp_post",
    "warped_ncc",
]

"""The side-by-side report: one evaluation of every estimator rendered as a Markdown table with the strain-filter
bound beside SNRe, and the section of ``docs/benchmarks.md`` it replaces.

The bound (:func:`bundle.metrics.strain_filter.strain_filter_snr_e`) is computed for every frame at its applied
strain, with the acquisition of its case, the estimator's effective window and the least-squares strain kernel
of the evaluation, then averaged over the frames like SNRe. Effective window: the NCC window for block
matching; one wavelength ``c / f0`` for the dense estimators (DP, GLUE and the networks compare samples one
by one, and the networks' loss window of 15 samples is 0.29 mm, about one wavelength at fs = 8 f0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from bundle.acquisition import Acquisition
from bundle.estimator import DisplacementEstimator
from bundle.metrics.strain_filter import strain_filter_snr_e

__all__ = ["effective_window_mm", "strain_filter_bounds", "markdown_table", "replace_section"]

#: (summary key, header, format) of the Markdown table, in order
REPORT_COLUMNS = [
    ("strain_nrmse", "strain NRMSE", "{:.3f}"),
    ("disp_rmse_axial_um", "disp RMSE ax (um)", "{:.2f}"),
    ("snr_t", "SNRt", "{:.2f}"),
    ("snr_e", "SNRe", "{:.2f}"),
    ("snr_e_bound", "SNRe bound (strain filter)", "{:.1f}"),
    ("cnr", "CNR", "{:.2f}"),
    ("strain_ratio_error", "SR error", "{:.3f}"),
    ("cross_level_spread", "level spread", "{:.4f}"),
    ("warped_ncc", "warped NCC", "{:.3f}"),
    ("seconds_per_pair", "s / pair", "{:.2f}"),
]


def effective_window_mm(estimator: DisplacementEstimator, acquisition: Acquisition) -> float:
    """The matching window (mm) at which the strain filter is evaluated for ``estimator`` (module docstring)."""
    length = getattr(estimator, "window_length_mm", None)  # block matching whose window adapts to the probe
    if callable(length):
        return float(length(acquisition))
    window = getattr(estimator, "window_mm", None)
    if isinstance(window, (int, float)) and window > 0:
        return float(window)
    return acquisition.speed_of_sound_m_s * 1e3 / acquisition.center_frequency_hz


def strain_filter_bounds(
    rows: list[dict],
    estimators: Mapping[str, DisplacementEstimator],
    acquisitions: Mapping[str, Acquisition],
    snr_db: float,
) -> dict[str, float]:
    """Mean over each estimator's frames of the SNRe bound at the frame's applied strain.

    Args:
        rows: evaluation rows (``case``, ``estimator``, ``applied_strain``).
        estimators: by name (their :func:`effective_window_mm` and ``strain_kernel_mm``).
        acquisitions: per case name (the window of the dense estimators depends on the centre frequency).
        snr_db: echo SNR of the data (dB).
    """
    values: dict[str, list[float]] = {}
    for row in rows:
        name, strain = row["estimator"], float(row.get("applied_strain") or math.nan)
        if not (math.isfinite(strain) and strain > 0) or name not in estimators:
            continue
        est, acq = estimators[name], acquisitions[row["case"]]
        bound = strain_filter_snr_e(strain, acq, effective_window_mm(est, acq), est.strain_kernel_mm, snr_db)
        values.setdefault(name, []).append(bound)
    return {name: float(np.mean(v)) for name, v in values.items()}


def markdown_table(summary: Mapping[str, Mapping[str, float]], bounds: Mapping[str, float]) -> str:
    """One row per estimator with :data:`REPORT_COLUMNS` (``n/a`` where a value is missing)."""
    header = "| estimator | frames | " + " | ".join(h for _, h, _ in REPORT_COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(REPORT_COLUMNS) + 2)]
    for name, entry in summary.items():
        values = {**entry, "snr_e_bound": bounds.get(name, math.nan)}
        cells = [
            fmt.format(values[k]) if math.isfinite(values.get(k, math.nan)) else "n/a" for k, _, fmt in REPORT_COLUMNS
        ]
        lines.append(f"| {name} | {int(entry['frames'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def replace_section(text: str, body: str, marker: str = "report") -> str:
    """``text`` with what lies between ``<!-- {marker}:start -->`` and ``<!-- {marker}:end -->`` replaced by
    ``body`` (the markers are appended at the end when missing)."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text and text.index(start) < text.index(end):
        return text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    if start in text or end in text:
        raise ValueError(f"only one of the markers {start!r} and {end!r} is present, or they are out of order")
    return text.rstrip() + "\n\n" + block + "\n"

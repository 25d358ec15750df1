"""Everything one case produces, written into the case's folder (which the caller stages and moves into place).

Layout of ``<case>/``::

    displacement_mm.nii.gz     (H, W, P, 2) axial, lateral displacement in mm, one volume per frame pair
    strain.nii.gz              (H, W, P) axial strain (fraction, negative = compression)
    strain.png                 B-mode and strain of every pair
    dicom/strain_pm_<k>.dcm    float Parametric Map of pair k (with ``dicom``)
    dicom/overlay_sc_<k>.dcm   colour Secondary Capture of pair k (with ``dicom``)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bundle.acquisition import Acquisition
from bundle.export.dicom import (
    DicomIdentity,
    secondary_capture_class,
    write_overlay_secondary_capture,
    write_strain_parametric_map,
)
from bundle.export.overlay import render_strain_overlay, strain_display_range
from bundle.export.uids import derived_uid
from bundle.io.nifti import write_nifti
from bundle.pairs import FramePair
from bundle.plotting import save_strain_panel

__all__ = ["CaseOutputs", "write_case_outputs"]


@dataclass(frozen=True)
class CaseOutputs:
    """What to write besides NIfTI: the PNG panel, DICOM (with the identity to give it), version strings.

    ``model_name``, ``software_version`` and ``weights`` (a digest of the estimator's weights file, "" for none)
    identify the estimator: the DICOM series UIDs derive from them, so another estimator, version or set of
    weights gives new series, and the same ones give the same UIDs again."""

    png: bool = True
    dicom: bool = False
    model_name: str = "MUSSE-Net"
    software_version: str = "0"
    weights: str = ""


def write_case_outputs(
    folder: str | Path,
    name: str,
    pre_frames: np.ndarray,
    pairs: list[FramePair],
    displacement_mm: np.ndarray,
    strain: np.ndarray,
    acquisition: Acquisition,
    outputs: CaseOutputs,
    identity: DicomIdentity | None = None,
) -> list[str]:
    """Write the files of one case into ``folder``; returns their names relative to ``folder``.

    Args:
        pre_frames: ``(P, H, W)`` pre frame of each pair (for the B-mode).
        displacement_mm: ``(P, 2, H, W)``; ``strain``: ``(P, H, W)``.
        identity: DICOM identity (reference or anonymous); required when ``outputs.dicom``.
    """
    folder = Path(folder)
    spacing = acquisition.spacing_mm
    written = []
    write_nifti(folder / "displacement_mm.nii.gz", np.transpose(displacement_mm, (2, 3, 0, 1)), spacing)
    write_nifti(folder / "strain.nii.gz", np.moveaxis(strain, 0, -1), spacing)
    written += ["displacement_mm.nii.gz", "strain.nii.gz"]
    # one colour scale for every picture of the case: per-picture ranges give one strain different colours
    scale = strain_display_range(strain)
    if outputs.png:
        panels = {f"frames {p.pre}->{p.post}": strain[k] for k, p in enumerate(pairs)}
        save_strain_panel(folder / "strain.png", pre_frames[0], panels, spacing, title=name, display_range=scale)
        written.append("strain.png")
    if outputs.dicom:
        if identity is None:
            raise ValueError("DICOM export needs an identity (reference or anonymous)")
        (folder / "dicom").mkdir()
        # stable UIDs (bundle.export.uids): same recording + estimator -> same UIDs; another estimator -> new series
        study, estimator = identity.patient_study.StudyInstanceUID, (outputs.model_name, outputs.software_version)
        key = (study, identity.recording, *estimator, outputs.weights or "no weights")
        pm_series, sc_series = (derived_uid("series", *key, kind) for kind in ("PM", "SC"))
        for k, pair in enumerate(pairs):
            # file names often carry an MRN or a name: an anonymous export must not burn them into pixels
            label = f"pair {k + 1}, frames {pair.pre}->{pair.post}"
            label = label if identity.anonymous else f"{name} {label}"
            rgb = render_strain_overlay(pre_frames[k], strain[k], spacing, title=label, display_range=scale)
            sc_uid = derived_uid("instance", sc_series, k, pair.pre, pair.post)
            write_overlay_secondary_capture(
                folder / "dicom" / f"overlay_sc_{k}.dcm", rgb, identity, sc_series, sc_uid, instance_number=k + 1
            )
            # an anonymous map derives from its own overlay; with a reference, from the reference B-mode
            source = identity.reference or (secondary_capture_class(), sc_uid, sc_series)
            write_strain_parametric_map(
                folder / "dicom" / f"strain_pm_{k}.dcm",
                strain[k],
                spacing,
                identity,
                pm_series,
                instance_number=k + 1,
                source=source,
                sop_instance_uid=derived_uid("instance", pm_series, k, pair.pre, pair.post),
                model_name=outputs.model_name,
                software_version=outputs.software_version,
                description=f"Axial strain {label}"[:64],
            )
            written += [f"dicom/overlay_sc_{k}.dcm", f"dicom/strain_pm_{k}.dcm"]
    return written

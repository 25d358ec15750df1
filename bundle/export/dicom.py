"""DICOM export of strain maps: a float Parametric Map (quantitative) and a colour Secondary Capture (for eyes).

Identity: with a reference B-mode DICOM of the same exam, the outputs join its patient, study and frame of
reference (new series, new instance UIDs); only :data:`IDENTITY_ATTRIBUTES` are copied (and the reference's
laterality), nothing else of the reference (no institution, operator, private or device fields). Without a reference
the outputs are explicitly anonymous: patient "ANONYMOUS" with a pseudonymous Patient ID derived from the recording's
content (one patient per recording, never the file name), Patient Identity Removed = YES, and a series description
that says so. Every UID is derived from the recording and the estimator (:mod:`bundle.export.uids`): re-sending a
result does not make a new study; another estimator or version makes new series. Modality is ``US`` (the series
sit beside the ultrasound exam).

Geometry: the Parametric Map lies on the RF grid, rows = depth; Pixel Spacing = (axial, lateral) mm. The probe is
not tracked, so position (0, 0, 0) and orientation (1, 0, 0, 0, 1, 0) describe the probe's own frame (x lateral,
y depth), not the patient's. When the map joins a reference's frame of reference, a viewer that links images by
frame of reference may therefore place it wrongly relative to images with real patient geometry (B-mode
ultrasound rarely has any). Strain is stored as 32-bit float with a Real World Value Mapping in UCUM unit "1"
(a fraction; negative = compression).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from highdicom.sr.coding import CodedConcept
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import generate_uid

from bundle.errors import ElastographyInputError
from bundle.export.uids import derived_uid, pseudonymous_patient_id
from bundle.io.atomic import atomic_path

# highdicom logs every module it copies at INFO (9 lines per instance): noise in a batch of hundreds of cases
logging.getLogger("highdicom").setLevel(logging.WARNING)

__all__ = [
    "IDENTITY_ATTRIBUTES",
    "DicomIdentity",
    "identity_from_reference",
    "anonymous_identity",
    "write_strain_parametric_map",
    "write_overlay_secondary_capture",
]

#: patient and study attributes taken from a reference image (and nothing else)
IDENTITY_ATTRIBUTES = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)
MANUFACTURER = "MUSSE-Net elastography bundle"
STRAIN_UNIT = CodedConcept("1", "UCUM", "no units")
MODALITY = "US"
ANONYMOUS_STUDY_DESCRIPTION = "Ultrasound strain elastography"
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


@dataclass(frozen=True)
class DicomIdentity:
    """Patient/study/frame-of-reference identity for the outputs of one case.

    Attributes:
        patient_study: a dataset holding only the patient and study attributes to write.
        frame_of_reference_uid: the reference's Frame of Reference UID, or a new one.
        reference: (SOP Class UID, SOP Instance UID, Series Instance UID) of the reference image, or None when
            anonymous.
        recording: content digest of the recording (:func:`bundle.export.uids.recording_digest`); the series and
            instance UIDs derive from it.
        laterality: ``R`` or ``L`` when the reference says so; None = unknown (written empty).
    """

    patient_study: Dataset
    frame_of_reference_uid: str
    reference: tuple[str, str, str] | None = None
    recording: str = ""
    laterality: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.reference is None


def identity_from_reference(path: str | Path, recording: str) -> DicomIdentity:
    """Identity of the exam a reference B-mode DICOM belongs to (see :data:`IDENTITY_ATTRIBUTES`), for the results
    of the recording with content digest ``recording``.

    Raises:
        ElastographyInputError: not a DICOM file, no pixel data (not an image), or no Study Instance UID.
        ValueError: ``recording`` is not a hex digest.
    """
    pseudonymous_patient_id(recording)  # checks the digest before anything is read
    path = Path(path)
    if not path.is_file():
        raise ElastographyInputError("reference DICOM not found", path)
    try:
        try:
            ref = pydicom.dcmread(path)
        except InvalidDicomError:  # no 128-byte preamble (older writers): read anyway, then check the content
            ref = pydicom.dcmread(path, force=True)
            if "SOPClassUID" not in ref:
                raise
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise ElastographyInputError(f"reference is not a readable DICOM file ({err})", path) from None
    if "PixelData" not in ref and "FloatPixelData" not in ref:
        raise ElastographyInputError("reference DICOM has no pixel data (not an image)", path)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID"):
        if not ref.get(keyword):
            raise ElastographyInputError(f"reference DICOM lacks {keyword}", path)
    patient_study = Dataset()
    for keyword in IDENTITY_ATTRIBUTES:
        setattr(patient_study, keyword, ref.get(keyword))
    for keyword in ("SpecificCharacterSet", "StudyDescription"):
        if not ref.get(keyword):
            del patient_study[keyword]
    study = str(ref.StudyInstanceUID)
    frame_of_reference = str(ref.get("FrameOfReferenceUID") or derived_uid("frame-of-reference", study, recording))
    sides = [str(ref.get(k) or "").upper() for k in ("Laterality", "ImageLaterality")]
    return DicomIdentity(
        patient_study,
        frame_of_reference,
        (str(ref.SOPClassUID), str(ref.SOPInstanceUID), str(ref.SeriesInstanceUID)),
        recording,
        next((side for side in sides if side in ("R", "L")), None),
    )


def anonymous_identity(recording: str, study_datetime: datetime.datetime | None = None) -> DicomIdentity:
    """The pseudonymous patient and study of one recording (used when no reference image is given).

    Args:
        recording: content digest of the recording (:func:`bundle.export.uids.recording_digest`): Patient ID
            ``ANON-<first 16 hex digits>``, and the study and frame-of-reference UIDs derive from it.
        study_datetime: Study Date/Time; default now (the export's). The UIDs do not depend on it: a later
            export of the same recording joins the same study (a PACS keeps the study date it saw first).

    Raises:
        ValueError: ``recording`` is not a hex digest.
    """
    when = study_datetime or datetime.datetime.now()
    ds = Dataset()
    ds.PatientName = "ANONYMOUS^"
    ds.PatientID = pseudonymous_patient_id(recording)
    ds.PatientBirthDate = None
    ds.PatientSex = None
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = [  # LO, 64 characters a value
        "No patient identity: written without a reference DICOM",
        "Patient ID: hash of the recording's content, not its name",
    ]
    ds.StudyInstanceUID = derived_uid("study", recording)
    ds.StudyDate = when.strftime("%Y%m%d")
    ds.StudyTime = when.strftime("%H%M%S")
    ds.StudyID = "ELASTO"
    ds.AccessionNumber = None
    ds.ReferringPhysicianName = None
    ds.StudyDescription = ANONYMOUS_STUDY_DESCRIPTION
    return DicomIdentity(ds, derived_uid("frame-of-reference", ds.StudyInstanceUID, recording), None, recording)


def _finish(ds: Dataset, identity: DicomIdentity, description: str) -> None:
    """Attributes highdicom leaves out or sets otherwise, and the anonymity statement."""
    ds.Modality = MODALITY  # highdicom writes OT; the Parametric Map and SC series modules leave it free
    # Type 2C in General Series: the reference's side, else empty = unknown (absent would be an error: dciodvfy)
    ds.Laterality = identity.laterality
    if identity.patient_study.get("StudyDescription"):
        ds.StudyDescription = identity.patient_study.StudyDescription
    ds.SeriesDescription = description + (" (ANONYMOUS: no reference image)" if identity.anonymous else "")
    for keyword in ("PatientIdentityRemoved", "DeidentificationMethod"):
        if keyword in identity.patient_study:
            setattr(ds, keyword, identity.patient_study[keyword].value)


def _save(ds: Dataset, path: Path, overwrite: bool) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path


def write_strain_parametric_map(
    path: str | Path,
    strain: np.ndarray,
    spacing_mm: tuple[float, float],
    identity: DicomIdentity,
    series_uid: str,
    instance_number: int = 1,
    source: tuple[str, str, str] | None = None,
    sop_instance_uid: str | None = None,
    series_number: int = 900,
    model_name: str = "MUSSE-Net",
    software_version: str = "0",
    description: str = "Axial strain",
    overwrite: bool = False,
) -> Path:
    """Write one axial strain map ``(H, W)`` (fraction) as a float32 Parametric Map, atomically.

    Args:
        source: (SOP Class, SOP Instance, Series Instance UID) of the image the map derives from; default the identity's
            reference. One of the two is needed (the IOD references its source).
        sop_instance_uid: default a new random UID (:func:`bundle.export.case.write_case_outputs` derives it).
    """
    strain = np.asarray(strain, dtype=np.float32)
    if strain.ndim != 2 or not np.isfinite(strain).all():
        raise ElastographyInputError(f"strain for DICOM must be a finite (H, W) map, got {strain.shape}", path)
    source = source or identity.reference
    if source is None:
        raise ElastographyInputError("a Parametric Map needs a source image (reference or overlay)", path)
    src = Dataset()
    src.update(identity.patient_study)
    src.SOPClassUID, src.SOPInstanceUID, src.SeriesInstanceUID = source
    src.FrameOfReferenceUID = identity.frame_of_reference_uid
    src.Rows, src.Columns = strain.shape
    # geometry of the probe frame; only lets highdicom accept the explicit plane positions below
    src.ImagePositionPatient, src.ImageOrientationPatient = [0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    src.PixelSpacing, src.SliceThickness = [float(s) for s in spacing_mm], 1.0
    low, high = float(strain.min()), float(strain.max())
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="STRAIN",
        lut_explanation="axial strain, fraction (negative = compression)",
        unit=STRAIN_UNIT,
        value_range=(low, high if high > low else low + 1e-6),
        slope=1.0,
        intercept=0.0,
    )
    window = hd.VOILUTTransformation(
        window_center=0.5 * (low + high), window_width=max(high - low, 1e-6), voi_lut_function="LINEAR_EXACT"
    )
    pm = hd.pm.ParametricMap(
        source_images=[src],
        pixel_array=strain,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=model_name,
        software_versions=software_version,
        device_serial_number="none",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[window],
        pixel_measures=hd.PixelMeasuresSequence(pixel_spacing=[float(s) for s in spacing_mm], slice_thickness=1.0),
        plane_orientation=hd.PlaneOrientationSequence("PATIENT", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        plane_positions=[hd.PlanePositionSequence("PATIENT", [0.0, 0.0, 0.0])],
        content_label="STRAIN",
        content_description=description[:64],
    )
    _finish(pm, identity, "Axial strain map")
    return _save(pm, Path(path), overwrite)


def write_overlay_secondary_capture(
    path: str | Path,
    rgb: np.ndarray,
    identity: DicomIdentity,
    series_uid: str,
    sop_instance_uid: str | None = None,
    instance_number: int = 1,
    series_number: int = 901,
    description: str = "Strain overlay",
    overwrite: bool = False,
) -> Path:
    """Write an RGB ``(rows, columns, 3)`` uint8 picture as a Secondary Capture image, atomically."""
    rgb = np.ascontiguousarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ElastographyInputError(f"overlay must be (rows, columns, 3) uint8, got {rgb.shape} {rgb.dtype}", path)
    ps = identity.patient_study
    sc = hd.sc.SCImage(
        pixel_array=rgb,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=ps.StudyInstanceUID,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        patient_id=ps.get("PatientID"),
        patient_name=ps.get("PatientName"),
        patient_birth_date=ps.get("PatientBirthDate"),
        patient_sex=ps.get("PatientSex") or None,
        accession_number=ps.get("AccessionNumber"),
        study_id=ps.get("StudyID"),
        study_date=ps.get("StudyDate"),
        study_time=ps.get("StudyTime"),
        referring_physician_name=ps.get("ReferringPhysicianName"),
        patient_orientation=("L", "F"),  # replaced below: highdicom requires a value, the probe frame has none
    )
    sc.PatientOrientation = None  # Type 2: unknown
    if ps.get("SpecificCharacterSet"):
        sc.SpecificCharacterSet = ps.SpecificCharacterSet
    sc.ImageComments = description[:10240]
    _finish(sc, identity, "Strain overlay")
    return _save(sc, Path(path), overwrite)


def secondary_capture_class() -> str:
    """SOP Class UID of the overlays (what an anonymous Parametric Map references as its source)."""
    return _SECONDARY_CAPTURE

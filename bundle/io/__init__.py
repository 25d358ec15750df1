"""Readers and writers: RF frames + acquisition in, NIfTI (and later DICOM) out, always atomically."""

from bundle.io.atomic import atomic_path, atomic_write_text
from bundle.io.frames import RFFrames, check_pair, check_rf, normalize_rf
from bundle.io.nifti import read_nifti, read_rf_nifti, sidecar_path, write_nifti

__all__ = [
    "RFFrames",
    "atomic_path",
    "atomic_write_text",
    "check_pair",
    "check_rf",
    "normalize_rf",
    "read_nifti",
    "read_rf_nifti",
    "sidecar_path",
    "write_nifti",
]

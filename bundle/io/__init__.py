"""Readers and writers: RF frames + acquisition in (any supported format), NIfTI and DICOM out, atomically."""

from bundle.io.atomic import atomic_path, atomic_write_text
from bundle.io.frames import RFFrames, check_pair, check_rf
from bundle.io.nifti import read_nifti, write_nifti
from bundle.io.readers import READERS, RF_SUFFIXES, is_rf_file, read_rf, rf_suffix_list, sidecar_path
from bundle.io.sidecar import RFSidecar, read_sidecar

__all__ = [
    "READERS",
    "RFFrames",
    "RFSidecar",
    "RF_SUFFIXES",
    "atomic_path",
    "atomic_write_text",
    "check_pair",
    "check_rf",
    "is_rf_file",
    "read_nifti",
    "read_rf",
    "read_sidecar",
    "rf_suffix_list",
    "sidecar_path",
    "write_nifti",
]

"""Shared fixtures: a small acquisition and phantom (fast tests), a reference B-mode DICOM writer, dciodvfy."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from bundle.acquisition import Acquisition
from bundle.simulation import PhantomConfig


@pytest.fixture
def acquisition() -> Acquisition:
    return Acquisition(
        sampling_frequency_hz=40e6, center_frequency_hz=5e6, speed_of_sound_m_s=1540.0, line_pitch_mm=0.3
    )


@pytest.fixture
def small_phantom(acquisition) -> PhantomConfig:
    """512 x 48 samples x lines: 9.9 x 14.4 mm."""
    return PhantomConfig(shape=(512, 48), acquisition=acquisition, snr_db=30.0)


US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
#: attributes of the reference that an export must not copy
PRIVATE_FIELDS = {"InstitutionName": "St Elsewhere", "OperatorsName": "Sono^Grapher", "PatientAddress": "1 Main St"}


def write_reference_bmode(path, with_pixels: bool = True, frame_of_reference: bool = False):
    """A small US Image Storage B-mode of patient 'Doe^Jane' with identity and non-identity attributes."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = US_IMAGE_STORAGE, ds.file_meta.MediaStorageSOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Doe^Jane", "P123", "19700101", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20261120", "101500", "S1", "ACC42"
    ds.ReferringPhysicianName = "Ref^Doc"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "US", 1, 1
    for keyword, value in PRIVATE_FIELDS.items():
        setattr(ds, keyword, value)
    ds.add_new(0x00091010, "LO", "vendor secret")
    if frame_of_reference:
        ds.FrameOfReferenceUID = generate_uid()
    if with_pixels:
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 32, 24, 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = np.arange(32 * 24, dtype=np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return ds


@pytest.fixture
def reference_bmode():
    """The writer :func:`write_reference_bmode` (fixtures keep the test modules free of conftest imports)."""
    return write_reference_bmode


@pytest.fixture
def dciodvfy():
    """Path of dciodvfy (Debian dicom3tools). ``make test`` installs it and sets ELASTO_REQUIRE_TOOLS=1, which
    turns a missing tool into a failure instead of a skip."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        if os.environ.get("ELASTO_REQUIRE_TOOLS") == "1":
            pytest.fail("dciodvfy not installed (apt-get install dicom3tools)")
        pytest.skip("dciodvfy not installed (apt-get install dicom3tools)")

    def check(path) -> str:
        result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        errors = [line for line in output.splitlines() if line.startswith("Error")]
        assert not errors, f"{path}: dciodvfy errors:\n" + "\n".join(errors)
        return output

    return check

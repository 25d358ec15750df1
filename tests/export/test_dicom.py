"""DICOM export: valid IODs (dciodvfy), values read back, identity from a reference or explicitly anonymous."""

from __future__ import annotations

import hashlib

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from bundle.errors import ElastographyInputError
from bundle.export.dicom import (
    anonymous_identity,
    identity_from_reference,
    secondary_capture_class,
    write_overlay_secondary_capture,
    write_strain_parametric_map,
)
from bundle.export.overlay import render_strain_overlay

SPACING = (0.01925, 0.3)
RECORDING = hashlib.sha256(b"a recording").hexdigest()  # content digest of the recording the maps come from


@pytest.fixture
def strain_map():
    rng = np.random.default_rng(0)
    strain = (-0.01 + 0.002 * rng.standard_normal((128, 24))).astype(np.float32)
    strain[40:70, 8:16] = -0.004  # a stiff lesion strains less
    return strain


@pytest.fixture
def pre_rf():
    return np.random.default_rng(1).standard_normal((128, 24))


def _write_pair(tmp_path, identity, strain_map, pre_rf):
    sc_series, sc_uid = generate_uid(), generate_uid()
    rgb = render_strain_overlay(pre_rf, strain_map, SPACING, title="test")
    sc = write_overlay_secondary_capture(tmp_path / "sc.dcm", rgb, identity, sc_series, sc_uid)
    source = identity.reference or (secondary_capture_class(), sc_uid, sc_series)
    pm = write_strain_parametric_map(
        tmp_path / "pm.dcm", strain_map, SPACING, identity, generate_uid(), source=source, software_version="0.5.0"
    )
    return rgb, sc, pm


def test_anonymous_export_valid_and_reads_back(tmp_path, strain_map, pre_rf, dciodvfy):
    rgb, sc_path, pm_path = _write_pair(tmp_path, anonymous_identity(RECORDING), strain_map, pre_rf)
    dciodvfy(pm_path)
    dciodvfy(sc_path)
    pm = pydicom.dcmread(pm_path)
    assert pm.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map Storage
    np.testing.assert_array_equal(pm.pixel_array.reshape(strain_map.shape), strain_map)  # float32: exact
    assert "FloatPixelData" in pm and pm.BitsAllocated == 32
    mapping = pm.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    unit = mapping.MeasurementUnitsCodeSequence[0]
    assert (unit.CodeValue, unit.CodingSchemeDesignator) == ("1", "UCUM")
    assert (float(mapping.RealWorldValueSlope), float(mapping.RealWorldValueIntercept)) == (1.0, 0.0)
    measures = pm.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    np.testing.assert_allclose([float(v) for v in measures.PixelSpacing], SPACING)
    sc = pydicom.dcmread(sc_path)
    np.testing.assert_array_equal(sc.pixel_array, rgb)
    for ds in (pm, sc):
        assert str(ds.PatientName) == "ANONYMOUS^" and ds.PatientIdentityRemoved == "YES"
        assert "ANONYMOUS" in ds.SeriesDescription
    assert pm.StudyInstanceUID == sc.StudyInstanceUID and pm.SeriesInstanceUID != sc.SeriesInstanceUID
    assert pm.SourceImageSequence[0].ReferencedSOPInstanceUID == sc.SOPInstanceUID


@pytest.mark.parametrize("frame_of_reference", [False, True])
def test_reference_identity_copied_and_nothing_else(
    tmp_path, strain_map, pre_rf, dciodvfy, reference_bmode, frame_of_reference
):
    ref = reference_bmode(tmp_path / "bmode.dcm", frame_of_reference=frame_of_reference)
    identity = identity_from_reference(tmp_path / "bmode.dcm", RECORDING)
    _, sc_path, pm_path = _write_pair(tmp_path, identity, strain_map, pre_rf)
    for path in (pm_path, sc_path):
        dciodvfy(path)
        ds = pydicom.dcmread(path)
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                        "AccessionNumber", "StudyDate"):  # fmt: skip
            assert ds.get(keyword) == ref.get(keyword), keyword
        assert ds.SeriesInstanceUID != ref.SeriesInstanceUID and ds.SOPInstanceUID != ref.SOPInstanceUID
        for keyword in ("InstitutionName", "OperatorsName", "PatientAddress"):
            assert keyword not in ds, f"{keyword} leaked into {path.name}"
        assert not any(elem.tag.is_private for elem in ds.iterall())
        assert "PatientIdentityRemoved" not in ds and "ANONYMOUS" not in ds.SeriesDescription
    pm = pydicom.dcmread(pm_path)
    assert pm.SourceImageSequence[0].ReferencedSOPInstanceUID == ref.SOPInstanceUID
    if frame_of_reference:
        assert pm.FrameOfReferenceUID == ref.FrameOfReferenceUID


def test_bad_reference_dicoms(tmp_path, reference_bmode):
    reference_bmode(tmp_path / "nopixels.dcm", with_pixels=False)
    with pytest.raises(ElastographyInputError, match="no pixel data"):
        identity_from_reference(tmp_path / "nopixels.dcm", RECORDING)
    (tmp_path / "junk.dcm").write_bytes(b"not a dicom file at all" * 10)
    with pytest.raises(ElastographyInputError, match="not a readable DICOM"):
        identity_from_reference(tmp_path / "junk.dcm", RECORDING)
    with pytest.raises(ElastographyInputError, match="not found"):
        identity_from_reference(tmp_path / "missing.dcm", RECORDING)


def test_export_refuses_nan_and_existing_files(tmp_path, strain_map, pre_rf):
    identity = anonymous_identity(RECORDING)
    bad = strain_map.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ElastographyInputError, match="finite"):
        write_strain_parametric_map(tmp_path / "pm.dcm", bad, SPACING, identity, generate_uid(),
                                    source=("1.2", "1.2.3", "1.2.3.4"))  # fmt: skip
    assert not (tmp_path / "pm.dcm").exists()
    _write_pair(tmp_path, identity, strain_map, pre_rf)
    before = (tmp_path / "pm.dcm").read_bytes()
    with pytest.raises(ElastographyInputError, match="refusing to overwrite"):
        _write_pair(tmp_path, identity, strain_map, pre_rf)
    assert (tmp_path / "pm.dcm").read_bytes() == before

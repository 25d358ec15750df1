"""Stable DICOM identity for a PACS: one pseudonymous patient per recording, UIDs derived from the recording and the
estimator (re-export = same UIDs, other estimator = new series), Modality US, every dciodvfy warning explained."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest

from bundle.acquisition import Acquisition
from bundle.errors import ElastographyInputError
from bundle.export.case import CaseOutputs, write_case_outputs
from bundle.export.dicom import anonymous_identity, identity_from_reference
from bundle.export.uids import derived_uid, recording_digest
from bundle.io.metaimage import write_metaimage
from bundle.pairs import FramePair

ROOT = Path(__file__).resolve().parents[2]
ACQ = Acquisition(40e6, 5e6, 1540.0, 0.3)
DICOM = CaseOutputs(png=False, dicom=True, model_name="ncc", software_version="0.5.0")


def _recording(path: Path, seed: int) -> Path:
    np.save(path, np.random.default_rng(seed).standard_normal((96, 16, 3)).astype(np.float32))
    return path


def _export(folder: Path, identity, outputs: CaseOutputs = DICOM, pairs=((0, 1), (0, 2))) -> dict:
    """Write one case's DICOM; returns {file name: dataset}."""
    rng = np.random.default_rng(0)
    n = len(pairs)
    strain = (-0.01 + 0.001 * rng.standard_normal((n, 96, 16))).astype(np.float32)
    folder.mkdir(parents=True)
    write_case_outputs(folder, "case", rng.standard_normal((n, 96, 16)), [FramePair(*p) for p in pairs],
                       np.zeros((n, 2, 96, 16), np.float32), strain, ACQ, outputs, identity)  # fmt: skip
    return {path.name: pydicom.dcmread(path) for path in sorted((folder / "dicom").glob("*.dcm"))}


def _uids(datasets: dict) -> dict:
    return {name: (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.get("FrameOfReferenceUID"))
            for name, ds in datasets.items()}  # fmt: skip


def test_recording_digest_is_the_streamed_content_not_the_name(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 3 * 2**20 + 5, dtype=np.uint8).tobytes()  # > 3 read chunks
    (tmp_path / "MRN123_doe.npy").write_bytes(data)
    assert recording_digest(tmp_path / "MRN123_doe.npy") == hashlib.sha256(data).hexdigest()
    shutil.copy(tmp_path / "MRN123_doe.npy", tmp_path / "renamed.npy")
    assert recording_digest(tmp_path / "renamed.npy") == hashlib.sha256(data).hexdigest()
    (tmp_path / "changed.npy").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert recording_digest(tmp_path / "changed.npy") != recording_digest(tmp_path / "renamed.npy")
    # a detached MetaImage: header and data file both count
    write_metaimage(tmp_path / "seq.mhd", np.arange(2 * 8 * 4, dtype=np.int16).reshape(2, 8, 4))
    header, raw = (tmp_path / "seq.mhd").read_bytes(), (tmp_path / "seq.raw").read_bytes()
    assert recording_digest(tmp_path / "seq.mhd") == hashlib.sha256(header + raw).hexdigest()
    (tmp_path / "seq.raw").write_bytes(raw[:-2] + b"\x01\x00")
    assert recording_digest(tmp_path / "seq.mhd") != hashlib.sha256(header + raw).hexdigest()
    (tmp_path / "seq.raw").unlink()
    with pytest.raises(ElastographyInputError, match="seq.raw") as err:
        recording_digest(tmp_path / "seq.mhd")
    assert err.value.path == tmp_path / "seq.mhd"
    with pytest.raises(ElastographyInputError, match="not found") as err:
        recording_digest(tmp_path / "missing.npy")
    assert err.value.path == tmp_path / "missing.npy"


def test_one_pseudonymous_patient_and_study_per_recording(tmp_path):
    a = _recording(tmp_path / "MRN123_doe_jane.npy", 1)
    b = _recording(tmp_path / "MRN456_roe_john.npy", 2)
    shutil.copy(a, tmp_path / "copy_of_a.npy")
    exports = {p.stem: _export(tmp_path / p.stem, anonymous_identity(recording_digest(p)))
               for p in (a, b, tmp_path / "copy_of_a.npy")}  # fmt: skip
    pm = {stem: files["strain_pm_0.dcm"] for stem, files in exports.items()}
    assert pm[a.stem].PatientID == "ANON-" + hashlib.sha256(a.read_bytes()).hexdigest()[:16]
    assert pm[b.stem].PatientID == "ANON-" + hashlib.sha256(b.read_bytes()).hexdigest()[:16]
    assert pm[a.stem].PatientID != pm[b.stem].PatientID
    assert pm[a.stem].StudyInstanceUID != pm[b.stem].StudyInstanceUID
    # the same content under another name: the same patient, study and UIDs
    assert _uids(exports["copy_of_a"]) == _uids(exports[a.stem])
    for files in exports.values():
        for ds in files.values():
            assert ds.PatientID == files["strain_pm_0.dcm"].PatientID and str(ds.PatientName) == "ANONYMOUS^"
            assert ds.PatientIdentityRemoved == "YES" and "hash" in " ".join(ds.DeidentificationMethod)
            assert ds.Modality == "US" and ds.StudyDescription == "Ultrasound strain elastography"
            values = " ".join(str(elem.value) for elem in ds.iterall() if elem.VR not in ("OB", "OW", "OF"))
            assert "MRN" not in values and "doe" not in values and "roe" not in values


def test_same_result_same_uids_other_estimator_new_series(tmp_path):
    digest = recording_digest(_recording(tmp_path / "rec.npy", 1))
    first = _export(tmp_path / "first", anonymous_identity(digest))
    again = _export(tmp_path / "again", anonymous_identity(digest))  # another run, a fresh identity object
    assert _uids(again) == _uids(first)
    names = ("strain_pm_0.dcm", "strain_pm_1.dcm", "overlay_sc_0.dcm", "overlay_sc_1.dcm")
    assert len({first[n].SOPInstanceUID for n in names}) == 4
    assert first["strain_pm_0.dcm"].SeriesInstanceUID == first["strain_pm_1.dcm"].SeriesInstanceUID
    assert first["strain_pm_0.dcm"].SeriesInstanceUID != first["overlay_sc_0.dcm"].SeriesInstanceUID
    study = first["strain_pm_0.dcm"].StudyInstanceUID
    series = {first[n].SeriesInstanceUID for n in names}
    for change in ({"model_name": "musse-net"}, {"software_version": "0.6.0"}, {"weights": "ab" * 32}):
        other = _export(tmp_path / "-".join(change), anonymous_identity(digest), replace(DICOM, **change))
        assert {ds.StudyInstanceUID for ds in other.values()} == {study}, change
        assert not series & {ds.SeriesInstanceUID for ds in other.values()}, change
    # another frame pair at the same index is another instance
    repaired = _export(tmp_path / "repaired", anonymous_identity(digest), pairs=((0, 1), (1, 2)))
    assert repaired["strain_pm_0.dcm"].SOPInstanceUID == first["strain_pm_0.dcm"].SOPInstanceUID
    assert repaired["strain_pm_1.dcm"].SOPInstanceUID != first["strain_pm_1.dcm"].SOPInstanceUID


def test_bad_digest_or_empty_uid_part_is_refused(tmp_path):
    for bad in ("", "not-hex-at-all-xyz", "abc"):
        with pytest.raises(ValueError, match="hex digest"):
            anonymous_identity(bad)
    with pytest.raises(ValueError, match="non-empty"):
        derived_uid("series", "1.2.3", "")
    assert derived_uid("series", "ab", "c") != derived_uid("series", "a", "bc")
    assert re.fullmatch(r"[0-9]+(\.[0-9]+)+", derived_uid("study", "ab" * 32)) and len(derived_uid("x", 1)) <= 64


@pytest.mark.parametrize("side", [("Laterality", "L"), ("ImageLaterality", "R")])
def test_reference_study_with_derived_series_and_its_laterality(tmp_path, reference_bmode, dciodvfy, side):
    ref = reference_bmode(tmp_path / "bmode.dcm")
    ref.StudyDescription = "US BREAST LEFT"
    setattr(ref, *side)
    ref.save_as(tmp_path / "bmode.dcm", enforce_file_format=True)
    digest = recording_digest(_recording(tmp_path / "rec.npy", 1))
    first = _export(tmp_path / "first", identity_from_reference(tmp_path / "bmode.dcm", digest))
    again = _export(tmp_path / "again", identity_from_reference(tmp_path / "bmode.dcm", digest))
    other = _export(tmp_path / "other", identity_from_reference(tmp_path / "bmode.dcm", "0" * 64))
    assert _uids(again) == _uids(first)
    for ds in first.values():
        assert (ds.PatientID, ds.StudyInstanceUID) == (ref.PatientID, ref.StudyInstanceUID)
        assert ds.Modality == "US" and ds.StudyDescription == "US BREAST LEFT" and ds.Laterality == side[1]
        assert ds.SeriesInstanceUID != ref.SeriesInstanceUID
    assert {ds.StudyInstanceUID for ds in other.values()} == {ref.StudyInstanceUID}
    assert not {ds.SeriesInstanceUID for ds in first.values()} & {ds.SeriesInstanceUID for ds in other.values()}
    for name in ("strain_pm_0.dcm", "overlay_sc_0.dcm"):
        assert "Laterality" not in dciodvfy(tmp_path / "first" / "dicom" / name)


#: the warnings dciodvfy gives on our outputs; each must be explained in docs/hospital_data.md (quoted there)
EXPLAINED_WARNINGS = ("attribute <Laterality>", "Unrecognized defined term <QUANTITY>")


def test_every_dciodvfy_warning_is_explained_in_the_docs(tmp_path, reference_bmode, dciodvfy):
    reference_bmode(tmp_path / "bmode.dcm")
    digest = recording_digest(_recording(tmp_path / "rec.npy", 1))
    _export(tmp_path / "anonymous", anonymous_identity(digest))
    _export(tmp_path / "reference", identity_from_reference(tmp_path / "bmode.dcm", digest))
    docs = (ROOT / "docs" / "hospital_data.md").read_text()
    seen = set()
    for path in sorted(tmp_path.glob("*/dicom/*.dcm")):
        for line in dciodvfy(path).splitlines():
            if line.startswith("Warning"):
                known = [fragment for fragment in EXPLAINED_WARNINGS if fragment in line]
                assert known, f"{path.name}: unexplained dciodvfy warning: {line}"
                seen.update(known)
    assert seen == set(EXPLAINED_WARNINGS)  # the list holds nothing that no longer happens
    for fragment in EXPLAINED_WARNINGS:
        assert fragment in docs, f"docs/hospital_data.md does not explain dciodvfy's '{fragment}'"

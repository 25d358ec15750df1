"""Readers refuse bad input with a message that names the file and the problem; writers are atomic."""

from __future__ import annotations

import json
import os
import stat
from pathlib import PurePosixPath

import numpy as np
import pytest

from bundle.acquisition import Acquisition
from bundle.amplitude import scale_by_std
from bundle.errors import ElastographyInputError
from bundle.io import atomic_path, check_pair, read_rf, write_nifti
from bundle.io.sidecar import read_acquisition


def _write_case(tmp_path, acquisition, frames=None, spacing=None):
    frames = np.random.default_rng(0).standard_normal((64, 8, 2)) if frames is None else frames
    path = write_nifti(tmp_path / "case_rf.nii.gz", frames, spacing or acquisition.spacing_mm)
    (tmp_path / "case_rf.json").write_text(json.dumps({"acquisition": acquisition.to_dict()}))
    return path


def test_roundtrip(tmp_path, acquisition):
    data = np.random.default_rng(0).standard_normal((64, 8, 3)).astype(np.float32)
    frames = read_rf(_write_case(tmp_path, acquisition, data))
    assert frames.frames.shape == (3, 64, 8)
    np.testing.assert_array_equal(frames.pre, data[:, :, 0])
    np.testing.assert_array_equal(frames.posts[1], data[:, :, 2])


def test_missing_sidecar(tmp_path, acquisition):
    path = _write_case(tmp_path, acquisition)
    (tmp_path / "case_rf.json").unlink()
    with pytest.raises(ElastographyInputError, match=r"case_rf\.json: sidecar not found"):
        read_rf(path)


def test_sidecar_missing_a_required_field(tmp_path, acquisition):
    path = _write_case(tmp_path, acquisition)
    (tmp_path / "case_rf.json").write_text(json.dumps({"center_frequency_hz": 5e6}))
    with pytest.raises(ElastographyInputError, match="sampling_frequency_hz"):
        read_rf(path)


def test_corrupt_and_empty_files(tmp_path, acquisition):
    path = _write_case(tmp_path, acquisition)
    path.write_bytes(path.read_bytes()[:200])  # truncated
    with pytest.raises(ElastographyInputError, match="case_rf.nii.gz: cannot read NIfTI"):
        read_rf(path)
    path.write_bytes(b"")
    with pytest.raises(ElastographyInputError, match="empty"):
        read_rf(path)


def test_header_spacing_must_agree_with_sidecar(tmp_path, acquisition):
    path = _write_case(tmp_path, acquisition, spacing=(0.05, 0.3))
    with pytest.raises(ElastographyInputError, match="disagrees"):
        read_rf(path)


def test_nan_rf(tmp_path, acquisition):
    data = np.ones((64, 8, 2))
    data[3, 3, 1] = np.nan
    with pytest.raises(ElastographyInputError, match=r"case_rf.nii.gz: RF contains 1 NaN/Inf"):
        read_rf(_write_case(tmp_path, acquisition, data))


def test_pair_checks():
    rng = np.random.default_rng(0)
    with pytest.raises(ElastographyInputError, match="differ in shape"):
        check_pair(rng.standard_normal((64, 8)), rng.standard_normal((64, 9)))
    with pytest.raises(ElastographyInputError, match="smaller than the minimum"):
        check_pair(rng.standard_normal((8, 8)), rng.standard_normal((8, 8)))
    with pytest.raises(ElastographyInputError, match="all zero"):
        check_pair(rng.standard_normal((64, 8)), np.zeros((64, 8)))
    pre, posts = check_pair(rng.standard_normal((64, 8)), rng.standard_normal((64, 8)))
    assert posts.shape == (1, 64, 8) and pre.dtype == np.float32


def test_normalisation_removes_any_amplitude_scale():
    rf = np.random.default_rng(0).standard_normal((64, 8))
    for scale in (1e-23, 1.0, 3e4):
        np.testing.assert_allclose(scale_by_std((rf * scale).astype(np.float32)), scale_by_std(rf), rtol=1e-5)


def test_atomic_path_never_leaves_partial_output(tmp_path):
    target = tmp_path / "out.nii.gz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    target.write_text("old")
    with pytest.raises(ElastographyInputError, match="refusing to overwrite"):
        with atomic_path(target):
            pass
    assert target.read_text() == "old"


def test_acquisition_validation(tmp_path):
    with pytest.raises(ElastographyInputError, match="alias"):
        Acquisition(sampling_frequency_hz=5e6, center_frequency_hz=5e6)
    with pytest.raises(ElastographyInputError, match="positive"):
        Acquisition(sampling_frequency_hz=40e6, center_frequency_hz=-5e6)
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(ElastographyInputError, match=r"x\.json: sidecar is not valid JSON"):
        read_acquisition(bad)
    acq = Acquisition(40e6, 5e6)
    assert acq.axial_spacing_mm == pytest.approx(0.01925)
    assert Acquisition.from_dict(acq.to_dict()) == acq


def test_sidecar_without_line_pitch_has_no_spacing(tmp_path, acquisition):
    path = _write_case(tmp_path, acquisition)
    fields = acquisition.to_dict()
    del fields["line_pitch_mm"]
    (tmp_path / "case_rf.json").write_text(json.dumps({"acquisition": fields}))
    message = r"case_rf\.json: acquisition is missing required field\(s\): line_pitch_mm"
    with pytest.raises(ElastographyInputError, match=message):
        read_rf(path)


def test_atomic_directory_publishes_with_the_umask(tmp_path):
    from bundle.io.atomic import atomic_directory

    previous = os.umask(0o027)
    try:
        for overwrite in (False, True):  # a new folder, and one that replaces an earlier folder
            with atomic_directory(tmp_path / "out", overwrite=overwrite) as staging:
                (staging / "a.txt").write_text("x")
            assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o750
    finally:
        os.umask(previous)


def test_strict_json_writes_null_for_nan():
    from bundle.io.jsonfile import strict_json_dumps

    def strict(constant):
        raise ValueError(constant)

    value = {"a": float("nan"), "b": [np.float32("inf"), np.float64(1.5), np.int64(2)], "c": np.array([np.nan, 3.0]),
             "d": (-float("inf"), True), "e": np.bool_(False), "f": None}  # fmt: skip
    assert json.loads(strict_json_dumps(value), parse_constant=strict) == {
        "a": None, "b": [None, 1.5, 2], "c": [None, 3.0], "d": [None, True], "e": False, "f": None
    }  # fmt: skip
    assert json.loads(strict_json_dumps({"p": PurePosixPath("x/y")}, default=str)) == {"p": "x/y"}

"""Every RF format: write a small file with known values, read it back with read_rf, compare (axial first)."""

import json
import zlib

import h5py
import numpy as np
import pytest
import scipy.io

from bundle.errors import ElastographyInputError
from bundle.io import read_rf, write_nifti
from bundle.io.metaimage import read_metaimage, write_metaimage

ACQ = {"sampling_frequency_hz": 40e6, "center_frequency_hz": 5e6, "line_pitch_mm": 0.3}
SHAPE = (3, 64, 8)  # frames, axial, lateral


@pytest.fixture
def frames():
    """Known RF (frames, axial, lateral): int-valued so that every dtype stores it exactly."""
    rng = np.random.default_rng(0)
    return rng.integers(-3000, 3000, SHAPE).astype(np.int16)


def _sidecar(path, **extra):
    stem = path.name.split(".")[0]
    side = path.with_name(stem + ".json")
    side.write_text(json.dumps({"acquisition": ACQ, **extra}))
    return side


def test_numpy_npy_default_axes(tmp_path, frames):
    path = tmp_path / "case.npy"
    np.save(path, np.moveaxis(frames, 0, -1))  # (axial, lateral, frame): the default order
    _sidecar(path)
    rf = read_rf(path)
    np.testing.assert_array_equal(rf.frames, frames)
    assert rf.frames.dtype == np.float32 and rf.acquisition.line_pitch_mm == 0.3


def test_npz_with_variable_and_custom_axes(tmp_path, frames):
    path = tmp_path / "case.npz"
    np.savez(path, rf=np.transpose(frames, (2, 0, 1)), tgc=np.ones(64))  # (lateral, frame, axial)
    _sidecar(path, variable="rf", axes=["lateral", "frame", "axial"])
    np.testing.assert_array_equal(read_rf(path).frames, frames)


def test_npz_ambiguous_without_variable(tmp_path, frames):
    path = tmp_path / "case.npz"
    np.savez(path, a=frames, b=frames)
    _sidecar(path)
    with pytest.raises(ElastographyInputError, match="cannot tell which array"):
        read_rf(path)


def test_matlab_v5_struct_field(tmp_path, frames):
    path = tmp_path / "case.mat"
    scipy.io.savemat(path, {"acq": {"rf": np.moveaxis(frames, 0, -1).astype(np.float64), "fs": 40e6}})
    _sidecar(path, variable="acq.rf")
    np.testing.assert_array_equal(read_rf(path).frames, frames)


def _save_v73(path, name, array):
    """What MATLAB's ``save -v7.3`` writes: HDF5 after a 512-byte user block, arrays stored reversed."""
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle.create_dataset(name, data=np.ascontiguousarray(array.T))
        handle[name].attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as handle:
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Nov 26 2026 HDF5 schema 1.00 .")


def test_matlab_v73_in_matlab_order(tmp_path, frames):
    path = tmp_path / "case.mat"
    _save_v73(path, "rf", np.moveaxis(frames, 0, -1).astype(np.float64))
    _sidecar(path)
    np.testing.assert_array_equal(read_rf(path).frames, frames)


def test_nifti_with_units_in_mhz_and_um(tmp_path, frames):
    path = tmp_path / "case.nii.gz"
    write_nifti(path, np.moveaxis(frames, 0, -1), (0.01925, 0.3))
    path.with_name("case.json").write_text(
        json.dumps({"sampling_frequency_mhz": 40, "center_frequency_khz": 5000, "line_pitch_um": 300})
    )
    rf = read_rf(path)
    np.testing.assert_array_equal(rf.frames, frames)
    assert rf.acquisition.sampling_frequency_hz == 40e6 and rf.acquisition.line_pitch_mm == pytest.approx(0.3)


@pytest.mark.parametrize("suffix", [".mha", ".mhd"])
def test_plus_sequence_orientation_timestamps_and_status(tmp_path, frames, suffix):
    """A PLUS sequence stored 'FM' (columns = depth) with a frame PLUS marked INVALID."""
    stored = np.concatenate([frames, frames[:1] * 0 + 7])  # a fourth, invalid frame
    path = tmp_path / f"case{suffix}"
    write_metaimage(
        path,
        np.transpose(stored, (0, 2, 1)),  # (frame, lateral rows, axial columns)
        fields={"UltrasoundImageOrientation": "FMA", "UltrasoundImageType": "RF_REAL"},
        frame_fields={
            k: {"Timestamp": f"{10 + 0.05 * k:.3f}", "ImageStatus": "OK" if k < 3 else "INVALID"} for k in range(4)
        },  # fmt: skip
    )
    _sidecar(path)
    rf = read_rf(path)
    np.testing.assert_array_equal(rf.frames, frames)
    np.testing.assert_allclose(rf.timestamps_s, [10.0, 10.05, 10.1])
    if suffix == ".mhd":
        assert path.with_suffix(".raw").stat().st_size == stored.nbytes


def test_metaimage_big_endian_compressed_and_flipped(tmp_path, frames):
    body = np.flip(frames, axis=1).astype(">f4")  # near-first rows ('MN'): depth decreasing with the row
    header = (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = True\nCompressedData = True\n"
        "DimSize = 8 64 3\nElementType = MET_FLOAT\nUltrasoundImageOrientation = MN\nElementDataFile = LOCAL\n"
    )
    path = tmp_path / "case.mha"
    path.write_bytes(header.encode() + zlib.compress(body.tobytes()))
    _sidecar(path)
    np.testing.assert_array_equal(read_rf(path).frames, frames)


def test_metaimage_truncated_raw(tmp_path, frames):
    path = write_metaimage(tmp_path / "case.mhd", frames)
    raw = path.with_suffix(".raw")
    raw.write_bytes(raw.read_bytes()[:-100])
    _sidecar(path)
    with pytest.raises(ElastographyInputError, match="truncated") as err:
        read_rf(path)
    assert err.value.path == raw


def test_metaimage_size_mismatch_and_unknown_type(tmp_path, frames):
    path = write_metaimage(tmp_path / "case.mha", frames)
    path.write_bytes(path.read_bytes() + b"\0\0")
    with pytest.raises(ElastographyInputError, match="size mismatch"):
        read_metaimage(path)
    text = path.read_bytes().replace(b"MET_SHORT", b"MET_HALF")
    path.write_bytes(text)
    with pytest.raises(ElastographyInputError, match="unknown MetaImage element type 'MET_HALF'"):
        read_metaimage(path)


def test_plus_brightness_images_are_refused(tmp_path, frames):
    path = write_metaimage(tmp_path / "case.mha", frames.astype(np.uint8), fields={"UltrasoundImageType": "BRIGHTNESS"})
    _sidecar(path)
    with pytest.raises(ElastographyInputError, match="not RF"):
        read_rf(path)


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ({"acquisition": {"sampling_frequency_hz": 40e6, "line_pitch_mm": 0.3}}, "center_frequency_hz"),
        ({"acquisition": {**ACQ, "sampling_frequency_mhz": 40}}, "more than once"),
        ({"acquisition": ACQ, "axes": ["axial", "axial", "frame"]}, "'axes'"),
        ({"acquisition": ACQ, "axes": ["axial", "lateral"]}, "does not match axes"),
        ({"acquisition": ACQ, "frame_pairs": [[0, 0]]}, "frame_pairs"),
    ],
)
def test_bad_sidecars_name_the_file(tmp_path, frames, sidecar, message):
    path = tmp_path / "case.npy"
    np.save(path, np.moveaxis(frames, 0, -1))
    side = tmp_path / "case.json"
    side.write_text(json.dumps(sidecar))
    with pytest.raises(ElastographyInputError, match=message) as err:
        read_rf(path)
    assert err.value.path in (side, path)


def test_missing_sidecar_and_corrupt_files(tmp_path, frames):
    path = tmp_path / "case.npy"
    np.save(path, frames)
    with pytest.raises(ElastographyInputError, match="sidecar not found"):
        read_rf(path)
    _sidecar(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ElastographyInputError, match="cannot read NumPy file"):
        read_rf(path)
    mat = tmp_path / "bad.mat"
    mat.write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 40)
    _sidecar(mat)
    with pytest.raises(ElastographyInputError, match="cannot read MATLAB file"):
        read_rf(mat)
    with pytest.raises(ElastographyInputError, match="unknown RF file type"):
        read_rf(tmp_path / "case.dcm")


def test_explicit_pairs_keep_file_numbers_when_plus_frames_are_dropped(tmp_path, frames):
    stored = np.concatenate([frames[:1], frames[:1] * 0 + 5, frames[1:]])  # file frame 1 is invalid
    path = write_metaimage(tmp_path / "case.mha", stored, fields={"UltrasoundImageOrientation": "MF"},
                           frame_fields={1: {"ImageStatus": "INVALID"}})  # fmt: skip
    _sidecar(path, frame_pairs=[[0, 2], [2, 3]])
    rf = read_rf(path)
    np.testing.assert_array_equal(rf.frames, frames)
    assert rf.frame_pairs == ((0, 1), (1, 2)) and rf.file_frame_numbers().tolist() == [0, 2, 3]
    _sidecar(path, frame_pairs=[[0, 1]])
    with pytest.raises(ElastographyInputError, match="marked invalid"):
        read_rf(path)


def test_metaimage_header_size_and_compressed_size_mismatch(tmp_path, frames):
    header = (
        "ObjectType = Image\nNDims = 3\nDimSize = 8 64 3\nElementType = MET_SHORT\nHeaderSize = 16\n"
        "ElementDataFile = case.raw\n"
    )
    path = tmp_path / "case.mhd"
    path.write_text(header)
    (tmp_path / "case.raw").write_bytes(b"vendor header 16" + frames.astype("<i2").tobytes())
    np.testing.assert_array_equal(read_metaimage(path).array, frames)
    header = header.replace("HeaderSize = 16", "CompressedData = True").replace("case.raw", "LOCAL")
    path = tmp_path / "packed.mha"
    path.write_bytes(header.encode() + zlib.compress(frames.astype("<i2").tobytes()) + b"junk")
    with pytest.raises(ElastographyInputError, match="size mismatch"):
        read_metaimage(path)
    path.write_bytes(header.encode() + zlib.compress(frames.astype("<i2").tobytes())[:-20])
    with pytest.raises(ElastographyInputError, match="truncated|corrupt"):
        read_metaimage(path)

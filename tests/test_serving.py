"""bundle.serving: the estimator behind a request interface (what the MONAI Label app calls)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bundle.acquisition import Acquisition
from bundle.bundle_config import _absolute_macros
from bundle.bundle_config import bundle_root as default_bundle_root
from bundle.errors import ElastographyInputError
from bundle.io.nifti import write_nifti
from bundle.io.readers import read_rf
from bundle.pairs import FramePair, estimate_pairs
from bundle.serving import StrainService
from bundle.simulation import PhantomConfig, simulate_sequence

ROOT = Path(__file__).resolve().parents[1]
ACQ = Acquisition(40e6, 5e6, 1540.0, 0.3)


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """Frames at 0, 0.4 and 0.8 % uniform compression, 512 x 48; sidecar pairing "first"."""
    folder = tmp_path_factory.mktemp("studies")
    seq = simulate_sequence(PhantomConfig(shape=(512, 48), acquisition=ACQ), None, (0.004, 0.008), seed=3)
    write_nifti(folder / "rec_rf.nii.gz", np.moveaxis(seq.rf, 0, -1), ACQ.spacing_mm)
    (folder / "rec_rf.json").write_text(json.dumps({"acquisition": ACQ.to_dict(), "frame_pairs": "first"}))
    return folder / "rec_rf.nii.gz"


@pytest.fixture(scope="module")
def service() -> StrainService:
    return StrainService(device="cpu")


def test_service_is_the_bundle_estimator_from_any_working_directory(service, tmp_path, monkeypatch):
    meta = json.loads((ROOT / "configs" / "metadata.json").read_text())
    assert default_bundle_root() == ROOT
    assert (service.name, service.version) == (meta["name"], meta["version"])
    assert service.estimator.name == "musse-net" and service.estimator.instance_optimization is None
    monkeypatch.chdir(tmp_path)  # the config's "%configs/..." macros must not depend on where the server runs
    assert StrainService(device="cpu", instance_steps=3).estimator.name == "musse-net + io"


def test_absolute_macros_only_touch_relative_file_macros(tmp_path):
    config = {"a": "%configs/train.json::loss", "b": ["%/abs/x.json::k", "%local_id", "$@x"], "c": 1}
    assert _absolute_macros(config, tmp_path) == {
        "a": f"%{tmp_path / 'configs/train.json'}::loss",
        "b": ["%/abs/x.json::k", "%local_id", "$@x"],
        "c": 1,
    }


def test_default_and_explicit_pairs_give_the_applied_compression(service, recording):
    first = service.estimate(recording)  # sidecar "first": 0 -> 1
    assert (first.pre, first.post) == (0, 1)
    deeper = service.estimate(recording, 0, 2)
    assert deeper.displacement_mm.shape == (2, 512, 48) and deeper.strain.shape == (512, 48)
    assert np.median(first.strain) == pytest.approx(-0.004, rel=0.25)
    assert np.median(deeper.strain) == pytest.approx(-0.008, rel=0.25)
    summary = deeper.summary()
    assert (summary["pre_frame"], summary["post_frame"], summary["shape"]) == (0, 2, [512, 48])
    assert summary["spacing_mm"] == pytest.approx([0.01925, 0.3])


def test_a_pair_is_estimated_with_its_sequence_as_batch_inference_does(service, recording):
    rf = read_rf(recording)
    batch = estimate_pairs(service.estimator, rf.frames, [FramePair(0, 1), FramePair(0, 2)], rf.acquisition)
    served = service.estimate(recording, 0, 2)  # sidecar "first": 0 -> 1 and 0 -> 2 go in one call
    assert served.sequence_posts == (1, 2)
    np.testing.assert_array_equal(served.displacement_mm, batch[1])
    alone = service.estimate(recording, 1, 2)  # not in the sidecar's pairing: estimated alone
    assert alone.sequence_posts == (2,) and alone.summary()["estimated_with_posts"] == [2]
    assert np.median(alone.strain) == pytest.approx(-0.004, rel=0.3)  # 0.4 -> 0.8 %: about 0.4 % more


def test_bad_pairs_name_the_file_or_the_argument(service, recording):
    outside = r"rec_rf.nii.gz: post frame 5 is not in the file \(its frames are 0..2\)"
    with pytest.raises(ElastographyInputError, match=outside):
        service.estimate(recording, 0, 5)
    with pytest.raises(ValueError, match="both the pre and the post"):
        service.estimate(recording, pre=1)
    with pytest.raises(ValueError, match="same frame"):
        service.estimate(recording, 1, 1)


def test_recording_without_sidecar_names_the_missing_sidecar(service, recording, tmp_path):
    orphan = tmp_path / "orphan_rf.nii.gz"
    orphan.write_bytes(recording.read_bytes())
    with pytest.raises(ElastographyInputError, match=r"orphan_rf.json: sidecar not found"):
        service.estimate(orphan)


def test_written_results_open_with_their_units(service, recording, tmp_path):
    result = service.estimate(recording, 0, 2)
    strain = nib.load(service.write(result, "strain", tmp_path / "s.nii.gz"))
    assert strain.shape == (512, 48) and strain.get_data_dtype() == np.float32
    np.testing.assert_allclose(strain.header.get_zooms(), ACQ.spacing_mm, rtol=1e-6)
    np.testing.assert_array_equal(strain.get_fdata(dtype=np.float32), result.strain.astype(np.float32))
    displacement = nib.load(service.write(result, "displacement", tmp_path / "d.nii.gz")).get_fdata(dtype=np.float32)
    np.testing.assert_array_equal(displacement[..., 0], result.displacement_mm[0].astype(np.float32))
    overlay = service.write(result, "overlay", tmp_path / "o.png")
    assert overlay.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="unknown result 'label'"):
        service.write(result, "label", tmp_path / "x.nii.gz")
    with pytest.raises(ValueError, match="written as .png"):
        service.write(result, "overlay", tmp_path / "x.nii.gz")


def test_missing_files_stop_the_service_with_their_names(tmp_path):
    with pytest.raises(ElastographyInputError, match=r"missing.pt: model file not found"):
        StrainService(checkpoint=tmp_path / "missing.pt")
    with pytest.raises(ElastographyInputError, match=r"inference.json: bundle file not found"):
        StrainService(bundle_root=tmp_path)
    with pytest.raises(ValueError, match="instance_steps"):
        StrainService(instance_steps=-1)

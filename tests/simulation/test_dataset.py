"""Writing a simulated data set: layout, spacing, determinism across workers, no half-written folders."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from bundle.errors import ElastographyInputError
from bundle.io import read_nifti, read_rf
from bundle.simulation.dataset import DatasetSpec, split_counts, write_dataset


@pytest.fixture
def tiny(acquisition):
    from bundle.simulation import PhantomConfig

    return PhantomConfig(shape=(256, 40), acquisition=acquisition)


def test_layout_splits_and_spacing(tmp_path, tiny, acquisition):
    datalist = write_dataset(tmp_path / "sim", DatasetSpec(num_sequences=4, num_post_frames=2), tiny, progress=False)
    data = json.loads(datalist.read_text())
    assert [len(data[k]) for k in ("training", "validation", "test")] == [2, 1, 1]
    entry = data["test"][0]
    frames = read_rf(datalist.parent / entry["image"])
    assert frames.frames.shape == (3, 256, 40)
    assert frames.acquisition == acquisition
    disp, spacing = read_nifti(datalist.parent / entry["displacement"])
    assert disp.shape == (256, 40, 2, 2)
    np.testing.assert_allclose(spacing, acquisition.spacing_mm, rtol=1e-6)
    img = nib.load(datalist.parent / entry["strain"])
    np.testing.assert_allclose(img.header.get_zooms()[:2], acquisition.spacing_mm, rtol=1e-6)
    assert img.header.get_xyzt_units()[0] == "mm"
    sidecar = json.loads((datalist.parent / entry["sidecar"]).read_text())
    assert len(sidecar["phantom"]["applied_strains"]) == 2
    assert not list(tmp_path.glob(".sim.*"))  # staging folder gone


def test_same_seed_same_data_whatever_the_worker_count(tmp_path, tiny):
    spec = DatasetSpec(num_sequences=2, num_post_frames=1, seed=5)
    a = write_dataset(tmp_path / "a", spec, tiny, workers=1, progress=False)
    b = write_dataset(tmp_path / "b", spec, tiny, workers=2, progress=False)
    for name in ("case_0000_rf.nii", "case_0001_strain.nii"):
        assert np.array_equal(read_nifti(a.parent / name)[0], read_nifti(b.parent / name)[0])


def test_existing_output_is_kept_unless_overwrite(tmp_path, tiny):
    out = tmp_path / "sim"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ElastographyInputError, match="exists"):
        write_dataset(out, DatasetSpec(num_sequences=1), tiny, progress=False)
    assert (out / "precious.txt").read_text() == "keep me"
    write_dataset(out, DatasetSpec(num_sequences=1, split=(1.0, 0.0, 0.0)), tiny, overwrite=True, progress=False)
    assert not (out / "precious.txt").exists() and (out / "datalist.json").exists()


def test_failed_run_leaves_nothing(tmp_path, tiny, monkeypatch):
    import bundle.simulation.dataset as ds

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ds, "simulate_sequence", boom)
    with pytest.raises(RuntimeError):
        write_dataset(tmp_path / "sim", DatasetSpec(num_sequences=2), tiny, workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_split_counts():
    assert split_counts(10, (0.7, 0.15, 0.15)) == (6, 2, 2)  # 1.5 rounds half to even: 2
    assert split_counts(3, (0.7, 0.15, 0.15)) == (1, 1, 1)
    assert split_counts(1, (1.0, 0.0, 0.0)) == (1, 0, 0)

"""Through batch inference: the DICOM identity follows the recording's content and the estimator's weights."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import torch

from bundle.acquisition import Acquisition
from bundle.inference import infer_folder
from bundle.networks.network_estimator import MUSSENetEstimator
from bundle.simulation import PhantomConfig, simulate_sequence

ROOT = Path(__file__).resolve().parents[1]
ACQ = {"sampling_frequency_mhz": 40, "center_frequency_mhz": 5, "line_pitch_mm": 0.3}


def _uids(run: Path) -> dict:
    """{case/file: (PatientID, Study, Series, SOP Instance UID)} of a run folder."""
    out = {}
    for path in sorted(run.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        out[f"{path.parts[-3]}/{path.name}"] = (ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID,
                                                ds.SOPInstanceUID)  # fmt: skip
    return out


def test_renamed_copy_rerun_and_new_weights(tmp_path):
    """A renamed byte copy of a recording is the same pseudonymous patient with the same UIDs; a second run gives
    the same UIDs; the same network with other weights gives new series in the same study."""
    acq = Acquisition(40e6, 5e6, 1540.0, 0.3)
    rf = simulate_sequence(PhantomConfig(shape=(256, 32), acquisition=acq), None, (0.01,), seed=5).rf
    folder = tmp_path / "site"
    folder.mkdir()
    np.save(folder / "MRN123_doe.npy", np.stack([rf[0], rf[1]], axis=-1))
    shutil.copy(folder / "MRN123_doe.npy", folder / "renamed.npy")
    np.save(folder / "other.npy", np.stack([rf[0], rf[1] * 1.5], axis=-1))  # other bytes: another recording
    for stem in ("MRN123_doe", "renamed", "other"):
        (folder / f"{stem}.json").write_text(json.dumps({"acquisition": ACQ, "frame_pairs": "first"}))
    state = torch.load(ROOT / "models" / "model.pt", weights_only=True)
    first_key = next(iter(state))
    state[first_key] = state[first_key] + 1e-3
    torch.save(state, tmp_path / "finetuned.pt")
    runs = {}
    for run, weights in (("first", ROOT / "models" / "model.pt"), ("again", ROOT / "models" / "model.pt"),
                         ("finetuned", tmp_path / "finetuned.pt")):  # fmt: skip
        estimator = MUSSENetEstimator(str(weights), device="cpu")
        summary = infer_folder(folder, tmp_path / run, estimator, progress=False, png=False, dicom=True)
        assert not summary.failed, summary.report()
        runs[run] = _uids(tmp_path / run)
    first = runs["first"]
    assert len(first) == 6  # 3 cases x (map + overlay)
    digest = hashlib.sha256((folder / "MRN123_doe.npy").read_bytes()).hexdigest()
    assert {first[f"MRN123_doe/{n}"][0] for n in ("strain_pm_0.dcm", "overlay_sc_0.dcm")} == {"ANON-" + digest[:16]}
    for name in ("strain_pm_0.dcm", "overlay_sc_0.dcm"):
        assert first[f"renamed/{name}"] == first[f"MRN123_doe/{name}"]
        assert first[f"other/{name}"][:2] != first[f"MRN123_doe/{name}"][:2]  # other patient, other study
    assert runs["again"] == first
    for key, (patient, study, series, instance) in runs["finetuned"].items():
        assert (patient, study) == first[key][:2] and series != first[key][2] and instance != first[key][3], key

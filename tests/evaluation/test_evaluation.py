"""End to end: an oracle estimator scores near-perfectly, NCC scores honestly, outputs are complete."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bundle.datasets import load_datalist
from bundle.errors import ElastographyInputError
from bundle.estimator import DisplacementEstimator
from bundle.evaluation import evaluate_datalist, load_case


class Oracle(DisplacementEstimator):
    """Returns the ground-truth displacement of one case: the metrics pipeline must then score ~perfectly."""

    name = "oracle"
    strain_kernel_mm = 0.5

    def __init__(self, displacement_mm):
        self.truth = displacement_mm

    def _estimate(self, pre, posts, acquisition):
        return self.truth


class Still(DisplacementEstimator):
    """No motion: every strain map is zero, so SNRe, CNR and the strain ratio are 0 / 0 = NaN."""

    name = "still"
    strain_kernel_mm = 0.5

    def _estimate(self, pre, posts, acquisition):
        return np.zeros((posts.shape[0], 2, *pre.shape), dtype=np.float32)


def _strict(constant):
    raise ValueError(f"{constant} is not JSON")


def test_nan_metrics_are_null_in_results_json(tiny_datalist, tmp_path):
    result = evaluate_datalist(tiny_datalist, {"still": Still()}, output_dir=tmp_path / "e", progress=False)
    assert np.isnan(result.summary["still"]["snr_e"])
    payload = json.loads((tmp_path / "e" / "results.json").read_text(), parse_constant=_strict)
    assert payload["summary"]["still"]["snr_e"] is None and payload["rows"][0]["cnr"] is None
    assert payload["summary"]["still"]["strain_nrmse"] == pytest.approx(result.summary["still"]["strain_nrmse"])


def test_oracle_scores_near_perfectly(tiny_datalist):
    entries, base = load_datalist(tiny_datalist, "test")
    case = load_case(entries[0], base)
    result = evaluate_datalist(tiny_datalist, {"oracle": Oracle(case.displacement_mm)}, split="test", progress=False)
    s = result.summary["oracle"]
    assert s["frames"] == 2
    assert s["disp_rmse_axial_um"] < 1e-3 and s["disp_rmse_lateral_um"] < 1e-3
    # LSQ strain of the true displacement differs from the true strain only where the kernel straddles the
    # lesion boundary
    assert s["strain_nrmse"] < 0.1
    assert s["strain_ratio_error"] < 0.02
    assert s["warped_ncc"] > 0.95
    # the true field is linear in the applied strain: its strain maps are proportional over the levels
    spreads = {r["cross_level_spread"] for r in result.rows}
    assert len(spreads) == 1 and s["cross_level_spread"] < 1e-4


def test_ncc_run_writes_every_output(tiny_datalist, tmp_path):
    out = tmp_path / "eval"
    result = evaluate_datalist(tiny_datalist, ["ncc"], split="all", output_dir=out, progress=False)
    rows = list(csv.DictReader((out / "per_frame.csv").open()))
    assert len(rows) == 6 and {r["estimator"] for r in rows} == {"ncc"}
    payload = json.loads((out / "results.json").read_text())
    assert set(payload["regions"]) == {"case_0000", "case_0001", "case_0002"}
    regions = payload["regions"]["case_0000"]
    assert regions["target"]["shape"] == "disc" and regions["pixels"]["target"] == regions["pixels"]["background"]
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["case_0000.png", "case_0001.png", "case_0002.png"]
    assert "SNRe" in (out / "table.txt").read_text()
    s = result.summary["ncc"]
    assert 0 < s["strain_nrmse"] < 0.6 and s["snr_e"] > 2 and s["seconds_per_pair"] > 0
    assert np.isfinite([s["snr_t"], s["cnr"], s["cnr_e"]]).all()
    assert all(0 < float(r["cross_level_spread"]) < 1 for r in rows)  # one value per case, on both frame rows
    assert len({(r["case"], r["cross_level_spread"]) for r in rows}) == 3


def test_existing_results_are_not_overwritten(tiny_datalist, tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ElastographyInputError, match="not empty"):
        evaluate_datalist(tiny_datalist, ["ncc"], output_dir=out, progress=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_corrupt_case_fails_cleanly(tiny_datalist, tmp_path):
    data = json.loads(tiny_datalist.read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    entry = data["test"][0]
    for key in ("image", "sidecar", "displacement", "strain"):
        (bad / entry[key]).write_bytes((tiny_datalist.parent / entry[key]).read_bytes())
    (bad / entry["image"]).write_bytes((bad / entry["image"]).read_bytes()[:1000])
    (bad / "datalist.json").write_text(json.dumps({"test": [entry]}))
    with pytest.raises(ElastographyInputError, match=entry["image"]):
        evaluate_datalist(bad / "datalist.json", ["ncc"], output_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_bad_case_is_skipped_with_its_reason_and_the_rest_is_scored(tiny_datalist, tmp_path, monkeypatch):
    """One truncated RF among good cases: listed as skipped (file and reason) in the result, results.json and
    table.txt; the others are scored, and their figures get the scale of the applied strain."""
    import bundle.evaluation.runner as runner

    data = json.loads(tiny_datalist.read_text())
    folder = tmp_path / "mixed"
    folder.mkdir()
    entries = data["training"] + data["test"]
    for entry in entries:
        for key in ("image", "sidecar", "displacement", "strain"):
            (folder / entry[key]).write_bytes((tiny_datalist.parent / entry[key]).read_bytes())
    bad = entries[0]
    (folder / bad["image"]).write_bytes((folder / bad["image"]).read_bytes()[:1000])
    (folder / "datalist.json").write_text(json.dumps({"test": entries}))
    ranges = []
    original = runner.save_strain_panel
    monkeypatch.setattr(
        runner, "save_strain_panel", lambda *a, **k: ranges.append(k["display_range"]) or original(*a, **k)
    )
    earlier = [{"case": "still_rec", "file": "/data/still_rec.npy", "reason": "no usable frame pair among 4 frames"}]
    out = tmp_path / "out"
    result = evaluate_datalist(folder / "datalist.json", ["ncc"], output_dir=out, progress=False, skipped=earlier)
    good = entries[1]["case"]
    assert {r["case"] for r in result.rows} == {good} and set(result.acquisitions) == {good}
    assert [s["case"] for s in result.skipped] == ["still_rec", bad["case"]]
    assert (
        result.skipped[1]["file"].endswith(bad["image"]) and "could the file be damaged?" in result.skipped[1]["reason"]
    )
    payload = json.loads((out / "results.json").read_text())
    assert payload["skipped"] == result.skipped and set(payload["regions"]) == {good}
    table = (out / "table.txt").read_text()
    assert f"skipped {bad['case']} ({result.skipped[1]['file']}): " in table and "skipped still_rec" in table
    # the middle post frame's applied compression sets the figure's scale: 0 to twice it
    case = load_case(entries[1], folder)
    level = case.applied_strains[case.frames.posts.shape[0] // 2]
    assert ranges == [pytest.approx((0.0, 200.0 * level))] and (out / "figures" / f"{good}.png").is_file()


def test_unknown_estimator_and_split(tiny_datalist):
    with pytest.raises(ElastographyInputError, match="unknown estimator"):
        evaluate_datalist(tiny_datalist, ["nope"], progress=False)
    with pytest.raises(ElastographyInputError, match="unknown split"):
        evaluate_datalist(tiny_datalist, ["ncc"], split="train", progress=False)


def test_entries_without_a_sidecar_key_use_the_file_beside_the_rf(tiny_datalist):
    entries, base = load_datalist(tiny_datalist, "test")
    entry = {k: v for k, v in entries[0].items() if k != "sidecar"}
    case = load_case(entry, base)
    assert case.sidecar["phantom"]["inclusion"] is not None and len(case.applied_strains) == 2

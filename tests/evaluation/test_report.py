"""The side-by-side report: strain-filter bound (known values), Markdown table, docs section, the script."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from bundle.acquisition import Acquisition
from bundle.baselines import GLUEEstimator, NCCEstimator
from bundle.evaluation.report import effective_window_mm, markdown_table, replace_section, strain_filter_bounds
from bundle.metrics.strain_filter import delay_jitter_s, strain_decorrelation, strain_filter_snr_e
from bundle.simulation import PhantomConfig
from bundle.simulation.dataset import DatasetSpec, write_dataset

ROOT = Path(__file__).resolve().parents[2]
ACQ = Acquisition(
    sampling_frequency_hz=40e6, center_frequency_hz=5e6, speed_of_sound_m_s=1540.0, line_pitch_mm=0.3,
    fractional_bandwidth=0.7,
)  # fmt: skip


def test_decorrelation_and_jitter_known_values():
    assert strain_decorrelation(0.0, 5e6, 0.7, 2e-6) == pytest.approx(1.0)
    assert strain_decorrelation(0.02, 5e6, 0.7, 2e-6) < strain_decorrelation(0.01, 5e6, 0.7, 2e-6) < 1.0
    # perfectly correlated, noise-free echoes: no jitter; by hand for rho = 0.99, SNR 31.62, T = 1.948 us
    assert delay_jitter_s(5e6, 0.7, 1.948e-6, 1.0, 1e12) == pytest.approx(0.0, abs=1e-15)
    # by hand: factor = 1/0.99^2 (1 + 1/31.62^2)^2 - 1 = 0.022558; 3 / (2 f0^3 pi^2 T (B^3 + 12 B)) = 7.0717e-17
    assert delay_jitter_s(5e6, 0.7, 1.948e-6, 0.99, 31.62) == pytest.approx(1.2630e-9, rel=1e-4)


def test_strain_filter_shape_and_the_reference_range():
    # physics_and_baselines.md: single line, finite difference over dz = L, 30 dB, f0 5 MHz, B 0.7, L 2-3 mm
    # gives SNRe_max of about 9 to 15 at 1-2 % strain
    for strain in (0.01, 0.02):
        for window in (2.0, 3.0):
            assert 8.5 < strain_filter_snr_e(strain, ACQ, window, window, 30.0) < 15.5
    curve = [strain_filter_snr_e(s, ACQ, 2.5, 2.5, 30.0) for s in (0.001, 0.01, 0.08)]
    assert curve[1] > curve[0] and curve[1] > curve[2]  # noise-limited below, decorrelation-limited above
    # a longer least-squares kernel over the same windows raises the bound (more independent estimates)
    assert strain_filter_snr_e(0.01, ACQ, 0.5, 5.0, 30.0) > strain_filter_snr_e(0.01, ACQ, 0.5, 1.0, 30.0)


def test_effective_windows_and_bounds_per_estimator():
    assert effective_window_mm(NCCEstimator(window_mm=1.8), ACQ) == 1.8
    assert effective_window_mm(GLUEEstimator(), ACQ) == pytest.approx(0.308)
    rows = [
        {"case": "c", "estimator": "ncc", "applied_strain": 0.01},
        {"case": "c", "estimator": "ncc", "applied_strain": 0.02},
        {"case": "c", "estimator": "glue", "applied_strain": None},
    ]
    bounds = strain_filter_bounds(rows, {"ncc": NCCEstimator(), "glue": GLUEEstimator()}, {"c": ACQ}, 30.0)
    window = 3 * ACQ.wavelength_mm  # NCC's default kernel: 3 wavelengths (issue 13)
    expected = (strain_filter_snr_e(0.01, ACQ, window, 2.5, 30) + strain_filter_snr_e(0.02, ACQ, window, 2.5, 30)) / 2
    assert bounds == {"ncc": pytest.approx(expected)}


def test_markdown_table_and_section_replacement():
    summary = {"ncc": {"frames": 3, "strain_nrmse": 0.09, "snr_e": 11.7, "cnr": math.nan}}
    table = markdown_table(summary, {"ncc": 8.64})
    assert table.splitlines()[2].startswith("| ncc | 3 | 0.090 | n/a | n/a | 11.70 | 8.6 | n/a |")
    text = "# Bench\n\nintro\n"
    once = replace_section(text, "table 1")
    assert once == "# Bench\n\nintro\n\n<!-- report:start -->\ntable 1\n<!-- report:end -->\n"
    twice = replace_section(once + "\nafter\n", "table 2")
    assert "table 1" not in twice and "table 2" in twice and twice.endswith("\nafter\n")
    with pytest.raises(ValueError, match="markers"):
        replace_section("<!-- report:end --> <!-- report:start -->", "x")


def test_report_script_runs_the_classical_estimators_and_updates_a_docs_file(tmp_path):
    data = tmp_path / "data"
    spec = DatasetSpec(num_sequences=1, num_post_frames=2, lesion_probability=1.0, split=(0.0, 0.0, 1.0), seed=5)
    write_dataset(data, spec, PhantomConfig(shape=(512, 32)), workers=1, progress=False)
    docs = tmp_path / "bench.md"
    docs.write_text("# Benchmarks\n")
    cmd = [sys.executable, "scripts/report.py", "--datalist", str(data / "datalist.json"), "--output",
           str(tmp_path / "out"), "--estimators", "ncc,dp,glue", "--no-progress", "--docs", str(docs)]  # fmt: skip
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| glue | 2 |" in report and "SNRe bound (strain filter)" in report
    assert (tmp_path / "out" / "figures" / "case_0000.png").is_file()
    assert "<!-- report:start -->" in docs.read_text() and "| dp | 2 |" in docs.read_text()
    r = subprocess.run([*cmd[:-2], "--estimators", "ncc,nonsense"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "unknown estimator 'nonsense'" in r.stderr

    # a user's folder: RF and sidecar only, no datalist and no ground truth
    user = tmp_path / "user"
    user.mkdir()
    for name in ("case_0000_rf.nii", "case_0000_rf.json"):
        (user / name).write_bytes((data / name).read_bytes())
    cmd = [sys.executable, "scripts/report.py", "--datalist", str(user), "--output", str(tmp_path / "user-out"),
           "--estimators", "ncc", "--no-progress", "--no-figures"]  # fmt: skip
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    row = next(
        line for line in (tmp_path / "user-out" / "report.md").read_text().splitlines() if line.startswith("| ncc")
    )
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "2" and cells[2] == "n/a" and float(cells[5]) > 1  # no strain NRMSE without truth; SNRe
    empty = tmp_path / "empty"
    empty.mkdir()
    r = subprocess.run([*cmd[:2], "--datalist", str(empty), *cmd[4:]], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "no RF file" in r.stderr


def _report_main():
    """scripts/report.py's ``main`` (in this process: no second interpreter start-up)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("report_script", ROOT / "scripts" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_report_on_a_folder_skips_what_it_cannot_score(tmp_path, capsys):
    """A user's folder: a gentle push (0.17 %, below the 0.2 % target range) is scored on its fallback pair, a
    recording without a usable pair, a corrupt file and one without a sidecar are listed as skipped with the file
    and the reason; exit 0. A folder with nothing to score: exit 2 and the same list."""
    import json

    import numpy as np

    from bundle.cli import run_main
    from bundle.simulation import simulate_sequence

    levels = (0.00035, 0.0007, 0.00105, 0.0014, 0.0017)
    rf = simulate_sequence(PhantomConfig(shape=(512, 48), acquisition=ACQ), None, levels, seed=5).rf
    sidecar = json.dumps({"acquisition": {"sampling_frequency_mhz": 40, "center_frequency_mhz": 5,
                                          "line_pitch_mm": 0.3}})  # fmt: skip
    user = tmp_path / "user"
    user.mkdir()
    for name, frames in (("gentle", rf), ("still", np.stack([rf[0]] * 4))):
        np.save(user / f"{name}.npy", np.moveaxis(frames, 0, -1))
        (user / f"{name}.json").write_text(sidecar)
    (user / "corrupt.npy").write_bytes(b"\x93NUMPY not really")
    (user / "corrupt.json").write_text(sidecar)
    np.save(user / "nosidecar.npy", np.moveaxis(rf[:2], 0, -1))
    main, out = _report_main(), tmp_path / "out"
    argv = ["--datalist", str(user), "--output", str(out), "--estimators", "ncc", "--no-progress", "--no-figures"]
    assert run_main(main, argv) == 0
    printed = capsys.readouterr().out
    report = (out / "report.md").read_text()
    assert "| ncc | 1 |" in report and "1 case(s) scored, 3 skipped" in report
    assert "Skipped (3; not in the table):" in report
    reasons = {s["case"]: s for s in json.loads((out / "results.json").read_text())["skipped"]}
    assert sorted(reasons) == ["corrupt", "nosidecar", "still"]
    assert "nor in the fallback's [0.1 %, 0.2 %)" in reasons["still"]["reason"]
    assert reasons["corrupt"]["file"].endswith("corrupt.npy") and "sidecar not found" in reasons["nosidecar"]["reason"]
    for case, entry in reasons.items():
        assert f"- `{case}` (`{entry['file']}`): {entry['reason']}" in report  # listed in report.md ...
        assert f"`{case}` (`{entry['file']}`)" in printed  # ... and on the console
    assert "- `gentle_f0`: fallback pair: no pair reached the target range 0.2 % <= |strain| <= 3 %" in report
    assert json.loads((out / "results.json").read_text())["pairing_notes"]["gentle_f0"].startswith("fallback pair")

    (user / "gentle.npy").unlink()
    assert run_main(main, [*argv[:3], str(tmp_path / "out2"), *argv[4:]]) == 2
    err = capsys.readouterr().err
    assert "no recording could be scored; 3 skipped" in err and "skipped still (" in err
    assert not (tmp_path / "out2").exists()

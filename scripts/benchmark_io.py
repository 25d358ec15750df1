#!/usr/bin/env python
"""Time the hospital-data path on one recording: read each format, choose frame pairs, write NIfTI and DICOM.

Example::

    python scripts/benchmark_io.py --frames 10 --repeat 3

Simulates one uniform-compression sequence of ``--frames`` frames of 2048 x 128 (0.3 % steps), writes it in every
format to a temporary folder, and prints a Markdown table of the median wall time over ``--repeat`` runs.
The estimator is not timed here (see docs/benchmarks.md for seconds per pair).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bundle.acquisition import Acquisition  # noqa: E402
from bundle.export.case import CaseOutputs, write_case_outputs  # noqa: E402
from bundle.export.dicom import anonymous_identity  # noqa: E402
from bundle.export.uids import recording_digest  # noqa: E402
from bundle.io import read_rf, write_nifti  # noqa: E402
from bundle.io.metaimage import write_metaimage  # noqa: E402
from bundle.pairs import select_frame_pairs  # noqa: E402
from bundle.simulation import PhantomConfig, simulate_sequence  # noqa: E402


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    acq = Acquisition(40e6, 5e6, 1540.0, 0.3)
    levels = tuple(0.003 * k for k in range(1, a.frames))
    seq = simulate_sequence(PhantomConfig(shape=(2048, 128), acquisition=acq), None, levels, seed=0)
    rf16 = np.round(seq.rf / np.abs(seq.rf).max() * 20000).astype(np.int16)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sidecar = json.dumps({"acquisition": acq.to_dict()})
        files = {
            "PLUS .mha (int16)": write_metaimage(folder / "a.mha", rf16, fields={"UltrasoundImageOrientation": "MF"}),
            "MetaImage .mhd + .raw (int16)": write_metaimage(folder / "b.mhd", rf16),
            "NumPy .npy (float32)": folder / "c.npy",
            "MATLAB v5 .mat (int16)": folder / "d.mat",
            "NIfTI .nii (float32)": write_nifti(folder / "e.nii", np.moveaxis(seq.rf, 0, -1), acq.spacing_mm),
        }
        np.save(folder / "c.npy", np.moveaxis(seq.rf, 0, -1).astype(np.float32))
        scipy.io.savemat(folder / "d.mat", {"rf": np.moveaxis(rf16, 0, -1)})
        for name, path in files.items():
            (folder / f"{path.stem}.json").write_text(sidecar)
            size_mb = sum(f.stat().st_size for f in folder.glob(f"{path.stem}.*") if f.suffix != ".json") / 1e6
            rows.append((f"read {name}, {size_mb:.0f} MB", _median(lambda p=path: read_rf(p), a.repeat)))
        frames = read_rf(files["NumPy .npy (float32)"]).frames
        n_candidates = sum(min(a.frames - 1 - k, 8) for k in range(a.frames))
        pairs = []
        seconds = _median(lambda: pairs.extend(select_frame_pairs(frames)) or pairs, a.repeat)
        rows.append((f"choose frame pairs ({n_candidates} candidates, {len(pairs) // a.repeat} chosen)", seconds))
        strain = np.full((1, 2048, 128), -0.01, np.float32)
        displacement = np.zeros((1, 2, 2048, 128), np.float32)
        out = folder / "out"
        npy = files["NumPy .npy (float32)"]
        rows.append((f"identify the recording (SHA-256 of the .npy, {npy.stat().st_size / 1e6:.0f} MB)",
                     _median(lambda: recording_digest(npy), a.repeat)))  # fmt: skip
        identity = anonymous_identity(recording_digest(npy))

        def export(dicom: bool) -> None:
            case = out / f"{time.perf_counter_ns()}"
            case.mkdir(parents=True)
            outputs = CaseOutputs(png=False, dicom=dicom)
            write_case_outputs(case, "bench", frames[:1], pairs[:1], displacement, strain, acq, outputs,
                               identity)  # fmt: skip

        rows.append(("write NIfTI displacement + strain (.nii.gz), one pair", _median(lambda: export(False), a.repeat)))
        with_dicom = _median(lambda: export(True), a.repeat)
        rows.append(("... plus DICOM Parametric Map + overlay Secondary Capture, one pair", with_dicom))
    print(f"{a.frames} frames of 2048 x 128; median of {a.repeat}; {platform.processor() or platform.machine()}")
    print("| step | seconds |\n|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

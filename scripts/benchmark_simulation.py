#!/usr/bin/env python
"""Benchmark the simulator: N sequences written as NIfTI with their ground truth, wall-clock time.

Convolution mode (default) is issue #2's target: 1000 sequences of 4 frames (1 pre + 3 post) of 2048 x 128, all
cores. Realistic mode (issue #13) draws every sequence's acquisition, so frame sizes vary: it reports seconds per
sequence on a sample and the projection to ``--project`` sequences (target: 1000 in one hour on 2 cores).
The data go to a temporary folder that is deleted afterwards.

    python scripts/benchmark_simulation.py [--num-sequences 1000] [--workers 2]
    python scripts/benchmark_simulation.py --mode realistic --num-sequences 40 --post-frames 2 --workers 2
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bundle.simulation.dataset import DatasetSpec, write_dataset  # noqa: E402
from bundle.simulation.phantom import PhantomConfig  # noqa: E402
from bundle.simulation.realistic import RealisticSpec  # noqa: E402


def _load() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("convolution", "realistic"), default="convolution")
    p.add_argument("--num-sequences", type=int, default=1000)
    p.add_argument("--post-frames", type=int, default=3)
    p.add_argument("--height", type=int, default=2048, help="convolution mode only")
    p.add_argument("--width", type=int, default=128, help="convolution mode only")
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--project", type=int, default=1000, help="realistic mode: project the time to this many")
    p.add_argument("--compress", action="store_true")
    p.add_argument("--scratch", type=Path, default=None, help="folder for the temporary data (default: system temp)")
    a = p.parse_args()
    config = PhantomConfig(shape=(a.height, a.width))
    spec = DatasetSpec(
        num_sequences=a.num_sequences, num_post_frames=a.post_frames, compress=a.compress, seed=1, mode=a.mode
    )
    scratch = Path(tempfile.mkdtemp(prefix="simbench-", dir=a.scratch))
    load_before = _load()
    cpu_before = os.times()
    try:
        start = time.perf_counter()
        write_dataset(scratch / "data", spec, config, workers=a.workers, realistic=RealisticSpec())
        seconds = time.perf_counter() - start
        files = list((scratch / "data").iterdir())
        size_gb = sum(f.stat().st_size for f in files) / 1e9
        pixels = 0
        if a.mode == "realistic":
            import nibabel as nib

            for f in files:
                if f.name.endswith("_rf.nii") or f.name.endswith("_rf.nii.gz"):
                    pixels += int(nib.load(f).shape[0] * nib.load(f).shape[1])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    cpu = os.times()
    child_cpu = (cpu.children_user + cpu.children_system) - (cpu_before.children_user + cpu_before.children_system)
    own_cpu = (cpu.user + cpu.system) - (cpu_before.user + cpu_before.system)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    if a.mode == "convolution":
        frames = a.num_sequences * (1 + a.post_frames)
        print(
            f"| {a.num_sequences} x {1 + a.post_frames} frames of {a.height} x {a.width} | {a.workers} workers | "
            f"{seconds:.0f} s | {1000 * seconds / frames:.0f} ms/frame | {size_gb:.1f} GB | {machine} |"
        )
        return 0
    per = seconds / a.num_sequences
    print(
        f"| realistic, {a.num_sequences} x {1 + a.post_frames} frames, mean {pixels / a.num_sequences / 1e3:.0f}k "
        f"pixels per frame | {a.workers} workers | {seconds:.0f} s | {per:.2f} s/sequence | "
        f"{(own_cpu + child_cpu) / a.num_sequences:.2f} CPU s/sequence | projected {a.project}: "
        f"{per * a.project / 60:.0f} min, {size_gb / a.num_sequences * a.project:.0f} GB | {machine} |"
    )
    print(f"before: {load_before}; after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

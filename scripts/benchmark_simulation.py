#!/usr/bin/env python
"""Benchmark the simulator: N sequences of 1 + T frames of H x W RF written as NIfTI, wall-clock time.

Default is the issue's target: 1000 sequences of 4 frames (1 pre + 3 post) of 2048 x 128, all cores.
The data go to a temporary folder that is deleted afterwards (about 13 MB per sequence uncompressed).

    python scripts/benchmark_simulation.py [--num-sequences 1000] [--workers 2]
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-sequences", type=int, default=1000)
    p.add_argument("--post-frames", type=int, default=3)
    p.add_argument("--height", type=int, default=2048)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--compress", action="store_true")
    p.add_argument("--scratch", type=Path, default=None, help="folder for the temporary data (default: system temp)")
    a = p.parse_args()
    config = PhantomConfig(shape=(a.height, a.width))
    spec = DatasetSpec(num_sequences=a.num_sequences, num_post_frames=a.post_frames, compress=a.compress, seed=1)
    scratch = Path(tempfile.mkdtemp(prefix="simbench-", dir=a.scratch))
    try:
        start = time.perf_counter()
        write_dataset(scratch / "data", spec, config, workers=a.workers)
        seconds = time.perf_counter() - start
        size_gb = sum(f.stat().st_size for f in (scratch / "data").iterdir()) / 1e9
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    frames = a.num_sequences * (1 + a.post_frames)
    print(
        f"| {a.num_sequences} x {1 + a.post_frames} frames of {a.height} x {a.width} | {a.workers} workers | "
        f"{seconds:.0f} s | {1000 * seconds / frames:.0f} ms/frame | {size_gb:.1f} GB | "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

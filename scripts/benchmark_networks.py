"""Time per frame pair of the networks against NCC, on the frame sizes issue 14 names (no accuracy here).

Frames are simulated (``bundle.simulation``, uniform 1-2 % compression, three post frames per sequence). Each
estimator gets one warm-up call on the first size, then ``--repeats`` timed calls of ``estimate`` (the whole
estimator: canonical-grid resampling, network, mapping back; instance optimisation for ``+ io``); the time per
pair is the median call divided by the number of post frames. Settings:

- ``2048x128``: 40 MHz sampling, 5 MHz, 0.3 mm pitch (the training simulator's default probe);
- ``2304x384``: 40 MHz, 6.6 MHz, 0.1 mm line pitch (38.4 mm wide, 44 mm deep): a linear-array phantom
  recording with three lines per element, the size of the public phantom frame of issue 14.

Example::

    python scripts/benchmark_networks.py --repeats 3 --io-sizes 2048x128
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bundle.acquisition import Acquisition  # noqa: E402
from bundle.cli import run_main  # noqa: E402
from bundle.estimator import create_estimator  # noqa: E402
from bundle.networks.estimator import MUSSENetEstimator, NetworkEstimator  # noqa: E402
from bundle.simulation import PhantomConfig, simulate_sequence  # noqa: E402

SETTINGS = {
    "2048x128": Acquisition(40e6, 5e6, 1540.0, 0.3),
    "2304x384": Acquisition(40e6, 6.6e6, 1540.0, 0.1),
}


def _estimators(checkpoint: Path, device: str | None, with_io: bool) -> dict:
    out = {
        "ncc": create_estimator("ncc"),
        "usse-net": NetworkEstimator(checkpoint, device=device),
        "musse-net": MUSSENetEstimator(checkpoint, device=device),
    }
    if with_io:
        from monai.bundle import ConfigParser

        parser = ConfigParser()
        here = os.getcwd()
        os.chdir(ROOT)
        try:
            parser.read_config("configs/inference.json")
            io = parser.get_parsed_content("instance_optimization", lazy=False)
        finally:
            os.chdir(here)
        out["musse-net + io"] = MUSSENetEstimator(checkpoint, device=device, instance_optimization=io)
    return out


def _time(estimator, pre, posts, acq, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        estimator.estimate(pre, posts, acq)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / posts.shape[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=ROOT / "models" / "model.pt")
    p.add_argument("--sizes", default="2048x128,2304x384", help=f"comma-separated, of {', '.join(SETTINGS)}")
    p.add_argument("--io-sizes", default="2048x128", help="sizes at which musse-net + io is timed too ('' none)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    a = p.parse_args(argv)
    sizes = [s.strip() for s in a.sizes.split(",") if s.strip()]
    io_sizes = {s.strip() for s in a.io_sizes.split(",") if s.strip()}
    unknown = sorted((set(sizes) | io_sizes) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown sizes {unknown}; known: {sorted(SETTINGS)}")
    if a.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {a.repeats}")
    estimators = _estimators(a.checkpoint, a.device, bool(io_sizes))
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, networks on {estimators['usse-net'].device}"
    )
    print("| frame | estimator | network input (canonical grid) | s / pair | pairs / s |")
    print("|---|---|---|---|---|")
    for size in sizes:
        acq = SETTINGS[size]
        h, w = (int(v) for v in size.split("x"))
        seq = simulate_sequence(PhantomConfig(shape=(h, w), acquisition=acq), None, (0.01, 0.015, 0.02), seed=5)
        pre, posts = seq.rf[0], seq.rf[1:]
        for name, est in estimators.items():
            if name.endswith("+ io") and size not in io_sizes:
                continue
            est.estimate(pre, posts[:1], acq)  # warm-up (allocations, first-call costs)
            per_pair = _time(est, pre, posts, acq, a.repeats)
            grid = getattr(est, "canonical_grid", None)
            shape = "-" if grid is None else "x".join(map(str, grid.shape((h, w), acq)))
            print(f"| {size} | {name} | {shape} | {per_pair:.2f} | {1 / per_pair:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

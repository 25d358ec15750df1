"""One speed benchmark for every estimator, on the same frames: pairs per second, latency, memory, threads.

For each frame size, one simulated sequence (uniform 1-2 % compression) is made. Every estimator then gets one
warm-up call, followed by ``--repeats`` timed calls of ``estimate(pre, post)`` on single pairs, cycling through
the post frames. A call is the whole estimator: canonical-grid resampling, network, mapping back, and instance
optimisation for ``+ io``. Reported per estimator and size:

- latency per pair: the median and the 95th percentile over the timed calls;
- pairs per second: 1 / median latency;
- peak memory: the process's resident memory (RSS) at its highest during the estimator's calls (warm-up
  included), sampled every 5 ms from ``/proc/self/statm``, and in brackets its rise over the RSS before them.
  One process runs every row, so memory an earlier row left to the allocator hides part of a later row's
  rise; the absolute peak is the figure to size a machine by. On CUDA, torch's peak allocation is added;
- threads: ``torch.get_num_threads()``.

Sizes (``--sizes``):

- ``1024x128`` and ``2048x128``: 40 MHz sampling, 5 MHz, 0.3 mm pitch (the training simulator's probe);
- ``2304x384``: 40 MHz, 6.6 MHz, 0.1 mm pitch (issue 14's phantom frame size).

``musse-net (ONNX Runtime)`` is musse-net with ``backend="onnxruntime"``: the shipped export (``models/onnx``,
scripts/export_onnx.py) on ONNX Runtime's CPU provider, same canonical grid and padding. Rows that cannot be
measured (no onnxruntime installed) are printed with the reason, never a number.

Example::

    python scripts/benchmark.py --repeats 5 --io-repeats 2 > runs/benchmark.md

``--throughput``: instead, the network alone (musse-net, shipped weights) on batches of ``--batch`` pairs already on
the canonical grid, in each ``--precision`` (``float32``; ``float16``/``bfloat16`` = autocast, AMP), optionally
channels-last memory (``--channels-last``) and ``torch.compile`` (``--compile``): pairs per second, and the
agreement with float32 on the same device (largest and median displacement difference in pixels, median strain
difference). The GPU target of issue 16 (>= 200 pairs/s at 2048 x 128, batch 16) is measured this way::

    python scripts/benchmark.py --throughput --sizes 2048x128 --batch 16 --precision float32,float16,bfloat16
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bundle.acquisition import Acquisition  # noqa: E402
from bundle.bundle_config import configured_estimators  # noqa: E402
from bundle.cli import run_main  # noqa: E402
from bundle.networks.network_estimator import PRECISIONS, pad_to_multiple  # noqa: E402
from bundle.simulation import PhantomConfig, simulate_sequence  # noqa: E402

SETTINGS = {
    "1024x128": Acquisition(40e6, 5e6, 1540.0, 0.3),
    "2048x128": Acquisition(40e6, 5e6, 1540.0, 0.3),
    "2304x384": Acquisition(40e6, 6.6e6, 1540.0, 0.1),
}
ONNX_RUNTIME = "musse-net (ONNX Runtime)"
ESTIMATORS = ("ncc", "glue", "usse-net", "musse-net", ONNX_RUNTIME, "musse-net + io")


class PeakRSS:
    """Highest resident memory of this process (bytes) while the ``with`` block runs, sampled every 5 ms."""

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def now() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux: the process's lifetime peak, coarser but honest
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self.peak = self.now()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def build_estimators(names: list[str], checkpoint: Path, device: str | None) -> dict:
    """Name -> estimator (NCC and the networks as configs/evaluate.json wires them, the report's estimators;
    GLUE from the registry); for a row that cannot run here, the reason (a string)."""
    out = configured_estimators([n for n in names if n != ONNX_RUNTIME], checkpoint=checkpoint, device=device)
    if ONNX_RUNTIME in names:
        try:
            out[ONNX_RUNTIME] = configured_estimators(["musse-net"], checkpoint=checkpoint, backend="onnxruntime")[
                "musse-net"
            ]
        except ImportError as err:
            out[ONNX_RUNTIME] = str(err)
    return {name: out[name] for name in names}


def measure(estimator, pre, posts, acq, repeats: int) -> dict:
    cuda = torch.cuda.is_available() and getattr(getattr(estimator, "device", None), "type", "cpu") == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    before = PeakRSS.now()
    latencies = []
    with PeakRSS() as rss:
        estimator.estimate(pre, posts[:1], acq)  # warm-up (untimed): allocations, first-call costs
        for k in range(repeats):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            estimator.estimate(pre, posts[k % len(posts)][None], acq)
            if cuda:
                torch.cuda.synchronize()
            latencies.append(time.perf_counter() - start)
    median = float(np.median(latencies))
    return {
        "median_s": median,
        "p95_s": float(np.percentile(latencies, 95)),
        "pairs_per_s": 1.0 / median,
        "peak_extra_mib": max(0, rss.peak - before) / 2**20,
        "peak_rss_mib": rss.peak / 2**20,
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "threads": torch.get_num_threads(),
        "calls": repeats,
    }


def simulated_pair(size: str) -> tuple[np.ndarray, np.ndarray]:
    """Pre frame ``(H, W)`` and three post frames ``(3, H, W)`` at 1, 1.5 and 2 % uniform compression."""
    h, w = (int(v) for v in size.split("x"))
    seq = simulate_sequence(PhantomConfig(shape=(h, w), acquisition=SETTINGS[size]), None, (0.01, 0.015, 0.02), seed=5)
    return seq.rf[0], seq.rf[1:]


def profile(name: str, estimator, size: str) -> int:
    """Where one warm call's time goes: torch profiler, operators by self CPU time (and CUDA time on a GPU)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    if isinstance(estimator, str):
        raise ValueError(f"cannot profile {name}: {estimator}")
    pre, posts = simulated_pair(size)
    acq = SETTINGS[size]
    estimator.estimate(pre, posts[:1], acq)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    start = time.perf_counter()
    with torch_profile(activities=activities) as prof:
        estimator.estimate(pre, posts[:1], acq)
    print(f"{name} at {size}: {time.perf_counter() - start:.2f} s for one pair under the profiler\n")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40))
    return 0


def throughput(size: str, batch: int, precisions: list[str], repeats: int, device: str, channels_last: bool,
               compile_network: bool, checkpoint: Path) -> int:  # fmt: skip
    """Network-only pairs per second on a batch of pairs on the canonical grid, per precision; agreement with
    float32 on the same device."""
    from bundle.networks.layers import lsq_strain

    estimator = configured_estimators(["musse-net"], checkpoint=checkpoint, device=device)["musse-net"]
    network, device = estimator.network, estimator.device
    pre, posts = simulated_pair(size)
    canonical, _ = estimator.canonical_grid.to_canonical(np.stack([pre, posts[0]]), SETTINGS[size])
    h, w = canonical.shape[-2:]
    frames = torch.from_numpy(pad_to_multiple(canonical, network.size_multiple))[None].repeat(batch, 1, 1, 1)
    frames = frames.to(device)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
        frames = frames.contiguous(memory_format=torch.channels_last)
    run = torch.compile(network.forward_sequence) if compile_network else network.forward_sequence
    print(
        f"network alone (musse-net), {batch} pairs of {size} per call (canonical grid {h} x {w}, padded to "
        f"{frames.shape[-2]} x {frames.shape[-1]}), {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
        + f", channels-last {channels_last}, torch.compile {compile_network}; {time.strftime('%Y-%m-%d')}\n"
    )
    print(
        "| precision | s / call (median) | pairs / s | max \\|du\\| vs float32 (px) | median \\|du\\| (px) "
        "| median \\|d strain\\| |"
    )
    print("|---|---|---|---|---|---|")
    reference = None
    for name in precisions:
        dtype = PRECISIONS[name]
        times = []
        autocast = torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
        with torch.inference_mode(), autocast:
            for k in range(repeats + 1):  # the first call warms up (and compiles)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                out = run(frames)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if k:
                    times.append(time.perf_counter() - start)
        out = out.float()[:, 0]
        if reference is None and name == "float32":
            reference = out
        median = float(np.median(times))
        if reference is None or name == "float32":
            agreement = "| (reference) | | |" if name == "float32" else "| n/a: no float32 row first | | |"
        else:
            du = (out - reference).abs()
            ds = (lsq_strain(out[:, :1], network.strain_half_length)
                  - lsq_strain(reference[:, :1], network.strain_half_length)).abs()  # fmt: skip
            agreement = f"| {du.max().item():.3g} | {du.median().item():.3g} | {ds.median().item():.3g} |"
        print(f"| {name} | {median:.3f} | {batch / median:.1f} {agreement}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=ROOT / "models" / "model.pt")
    p.add_argument("--sizes", default=",".join(SETTINGS), help=f"comma-separated, of {', '.join(SETTINGS)}")
    p.add_argument("--estimators", default=",".join(ESTIMATORS), help="comma-separated")
    p.add_argument("--repeats", type=int, default=5, help="timed pairs per estimator and size")
    p.add_argument("--io-repeats", type=int, default=2, help="timed pairs for musse-net + io (tens of s each)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--profile", metavar="ESTIMATOR", help="instead of the table: torch profiler of one warm call of "
                   "ESTIMATOR at the first size, top operators by self CPU time")  # fmt: skip
    p.add_argument("--throughput", action="store_true", help="instead of the table: the network alone on batches "
                   "of pairs, per precision (see the description)")  # fmt: skip
    p.add_argument("--batch", type=int, default=16, help="pairs per call with --throughput")
    p.add_argument("--precision", default="float32,bfloat16", help=f"with --throughput, of {', '.join(PRECISIONS)}")
    p.add_argument("--channels-last", action="store_true", help="with --throughput")
    p.add_argument("--compile", action="store_true", help="with --throughput: torch.compile the network")
    a = p.parse_args(argv)
    sizes = [s.strip() for s in a.sizes.split(",") if s.strip()]
    names = [s.strip() for s in a.estimators.split(",") if s.strip()]
    unknown = sorted(set(sizes) - set(SETTINGS))
    if unknown:
        p.error(f"unknown sizes {unknown}; known: {sorted(SETTINGS)}")
    if a.profile == ONNX_RUNTIME:
        p.error(f"cannot profile {ONNX_RUNTIME}: the torch profiler does not see inside ONNX Runtime")
    if set(names) - set(ESTIMATORS) or (a.profile and a.profile not in ESTIMATORS):
        p.error(f"unknown estimator in {names + [a.profile] if a.profile else names}; known: {', '.join(ESTIMATORS)}")
    if a.repeats < 1 or a.io_repeats < 1:
        p.error(f"--repeats and --io-repeats must be >= 1, got {a.repeats} and {a.io_repeats}")
    if a.throughput:
        precisions = [s.strip() for s in a.precision.split(",") if s.strip()]
        if set(precisions) - set(PRECISIONS) or a.batch < 1:
            p.error(f"--precision of {', '.join(PRECISIONS)} and --batch >= 1, got {a.precision} and {a.batch}")
        return throughput(sizes[0], a.batch, precisions, a.repeats, a.device, a.channels_last, a.compile, a.checkpoint)
    estimators = build_estimators([a.profile] if a.profile else names, a.checkpoint, a.device)
    if a.profile:
        return profile(a.profile, estimators[a.profile], sizes[0])
    device = "cuda" if torch.cuda.is_available() and a.device != "cpu" else "cpu"
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, networks on {device}; {time.strftime('%Y-%m-%d')}")  # fmt: skip
    p95 = f"p95 (of {a.repeats} calls; {a.io_repeats} for + io)"  # few calls: close to the slowest one
    print(f"\n| frame | estimator | s / pair (median) | {p95} | pairs / s | peak memory (+MiB over start) | threads |")
    print("|---|---|---|---|---|---|---|")
    jobs = [(size, name) for size in sizes for name in names]
    rows = []
    sequences = {}
    for size, name in tqdm(jobs, desc="benchmark", unit="row", disable=a.no_progress, file=sys.stderr):
        if size not in sequences:
            sequences[size] = simulated_pair(size)
        estimator = estimators[name]
        if isinstance(estimator, str):
            row = f"| {size} | {name} | not measured: {estimator} | | | | |"
        else:
            pre, posts = sequences[size]
            r = measure(estimator, pre, posts, SETTINGS[size], a.io_repeats if "+ io" in name else a.repeats)
            memory = f"{r['peak_rss_mib']:.0f} (+{r['peak_extra_mib']:.0f})"
            if r["cuda_peak_mib"] is not None:
                memory += f", CUDA {r['cuda_peak_mib']:.0f}"
            row = (f"| {size} | {name} | {r['median_s']:.3f} | {r['p95_s']:.3f} | {r['pairs_per_s']:.3g} | "
                   f"{memory} | {r['threads']} |")  # fmt: skip
        rows.append(row)
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

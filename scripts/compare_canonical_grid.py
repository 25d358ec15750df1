#!/usr/bin/env python
"""The networks with and without the canonical grid (bundle/canonical_grid.py), next to NCC, on a data set with
ground truth: strain NRMSE over the valid region and strain-ratio error, per pair and in the mean.

    python scripts/simulate.py --mode realistic --output data/realistic24 --num-sequences 24 --post-frames 2
    python scripts/compare_canonical_grid.py --datalist data/realistic24/datalist.json

A scorer only: it tunes nothing, so it may also score the independent (PyMUST) validation set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bundle.canonical_grid import CanonicalGrid  # noqa: E402
from bundle.catalogue import create_estimator  # noqa: E402
from bundle.cli import run_main  # noqa: E402
from bundle.datasets import load_datalist  # noqa: E402
from bundle.evaluation.cases import load_case  # noqa: E402
from bundle.metrics.accuracy import strain_nrmse, strain_ratio, strain_ratio_error  # noqa: E402
from bundle.metrics.regions import regions_from_sidecar  # noqa: E402
from bundle.networks.network_estimator import MUSSENetEstimator, USSENetEstimator  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datalist", type=Path, required=True)
    p.add_argument("--split", default="all")
    p.add_argument("--checkpoint", default="models/model.pt")
    a = p.parse_args(argv)
    grid = CanonicalGrid()
    estimators = {
        "ncc": create_estimator("ncc"),
        "usse-net": USSENetEstimator(a.checkpoint, canonical_grid=None),
        "usse-net, canonical grid": USSENetEstimator(a.checkpoint, canonical_grid=grid),
        "musse-net": MUSSENetEstimator(a.checkpoint, canonical_grid=None),
        "musse-net, canonical grid": MUSSENetEstimator(a.checkpoint, canonical_grid=grid),
    }
    nrmse: dict[str, list[float]] = {k: [] for k in estimators}
    ratio_error: dict[str, list[float]] = {k: [] for k in estimators}
    entries, base = load_datalist(a.datalist, a.split)
    for entry in entries:
        case = load_case(entry, base)
        acq = case.frames.acquisition
        regions = regions_from_sidecar(case.sidecar, case.frames.shape, acq.spacing_mm)
        for name, est in estimators.items():
            strain = est.strain(est.estimate(case.frames.pre, case.frames.posts, acq), acq)
            for k in range(strain.shape[0]):
                nrmse[name].append(strain_nrmse(strain[k], case.strain[k], regions.valid))
                if regions.has_target:
                    ratios = (strain_ratio(s, regions.target, regions.background) for s in (strain[k], case.strain[k]))
                    ratio_error[name].append(strain_ratio_error(*ratios))
        spp = acq.sampling_frequency_hz / acq.center_frequency_hz
        cells = ", ".join(f"{k} {v[-1]:.3f}" for k, v in nrmse.items())
        probe = f"{acq.center_frequency_hz / 1e6:.1f} MHz, {spp:.1f} spp, {acq.line_pitch_mm:.2f} mm"
        print(f"{case.name}: {probe}: {cells}")
    print("| estimator | pairs | strain NRMSE mean | median | strain-ratio error mean (pairs with a lesion) |")
    print("|---|---|---|---|---|")
    for k in estimators:
        sr = f"{np.mean(ratio_error[k]):.3f} ({len(ratio_error[k])})" if ratio_error[k] else "n/a"
        print(f"| {k} | {len(nrmse[k])} | {np.mean(nrmse[k]):.3f} | {np.median(nrmse[k]):.3f} | {sr} |")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

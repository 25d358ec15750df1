#!/usr/bin/env python
"""Ablation of MUSSE-Net on one split, one run, same data: NCC | USSE-Net | + consistency | + refinement.

Example (the commands that train the three checkpoints are in docs/benchmarks.md)::

    python scripts/ablation.py --datalist data/simulated/datalist.json --split test \\
        --usse runs/abl-usse/checkpoints/model.pt --consistency runs/abl-cons/checkpoints/model.pt \\
        --musse runs/abl-refine/checkpoints/model.pt --output runs/ablation

``--usse`` and ``--consistency`` are USSE-Net weights (a bare stage one; ``--prefix stage_one.`` to take it
out of a MUSSE-Net file), ``--musse`` both stages. The architectures are those of ``configs/inference.json``
(``stage_one_def``, ``network_def``), so the ablation measures exactly what inference runs. Any checkpoint
left out drops its row. Writes what ``scripts/evaluate.py`` writes, with one row per estimator.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monai.bundle import ConfigParser  # noqa: E402

from bundle.baselines import NCCEstimator  # noqa: E402
from bundle.cli import run_main  # noqa: E402
from bundle.evaluation.command import add_evaluation_arguments, run_evaluation  # noqa: E402
from bundle.networks import MUSSENet  # noqa: E402
from bundle.networks.network_estimator import NetworkEstimator, load_weights  # noqa: E402


def _network(parser: ConfigParser, key: str):
    """A fresh instance of the network ``key`` of the inference config."""
    return parser.get_parsed_content(key, lazy=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_evaluation_arguments(p)
    p.add_argument("--usse", type=Path, help="USSE-Net weights trained without the consistency loss")
    p.add_argument("--consistency", type=Path, help="USSE-Net weights trained with the consistency loss")
    p.add_argument("--musse", type=Path, help="MUSSE-Net weights (both stages)")
    p.add_argument(
        "--two-passes", action="store_true", help="add a row: the --consistency stage one applied twice (no refiner)"
    )
    p.add_argument("--prefix", default="", help="entry prefix of the stage-one files (see load_weights)")
    p.add_argument("--inference-config", type=Path, default=ROOT / "configs" / "inference.json")
    p.add_argument("--strain-kernel-mm", type=float, default=2.5, help="the same LSQ kernel for every row")
    a = p.parse_args(argv)

    parser = ConfigParser()
    parser.read_config(str(a.inference_config))
    kernel = a.strain_kernel_mm
    estimators = {"ncc": NCCEstimator(strain_kernel_mm=kernel)}
    for name, path in (("usse-net", a.usse), ("+consistency", a.consistency)):
        if path is not None:
            net = _network(parser, "stage_one_def")
            estimators[name] = NetworkEstimator(path, net, strain_kernel_mm=kernel, checkpoint_prefix=a.prefix)
    if a.two_passes and a.consistency is not None:
        stage_one = load_weights(_network(parser, "stage_one_def"), a.consistency, prefix=a.prefix)
        net = MUSSENet(stage_one=stage_one, stages=1, stage_one_passes=2)
        estimators["+consistency, 2 passes"] = NetworkEstimator(None, net, strain_kernel_mm=kernel)
    if a.musse is not None:
        net = _network(parser, "network_def")
        estimators["+refinement (musse-net)"] = NetworkEstimator(
            a.musse, net, strain_kernel_mm=kernel, checkpoint_prefix=""
        )
    return run_evaluation(a, estimators)


if __name__ == "__main__":
    sys.exit(run_main(main))

#!/usr/bin/env python
"""Strain maps for a folder of RF files: the bundle's inference config, with short options.

Example (a site's recordings, DICOM for the PACS as well as NIfTI)::

    python scripts/infer.py /data/site_rf --output runs/site --dicom

is ``python -m monai.bundle run --config_file configs/inference.json --dataset_dir /data/site_rf
--output_dir runs/site --dicom True``. Every case gets ``<output>/<case>/`` (NIfTI, PNG, DICOM); a case that
fails is reported and skipped; ``summary.json`` lists both. An existing non-empty output folder is not touched:
the run goes to ``<output>-2`` unless ``--overwrite``; ``--resume`` finishes an interrupted run in ``<output>``,
keeping its complete case folders. ``--estimator ncc`` (or ``dp``, ``glue``) runs a classical estimator instead of
MUSSE-Net. ``--backend onnxruntime`` runs MUSSE-Net's ONNX export (``models/onnx``) on ONNX Runtime, without
instance optimisation unless ``--instance-steps`` asks for it (which that backend refuses). Send the DICOM results
on with ``scripts/send_to_pacs.py``.

Exit status: 0 every case done; 1 some cases failed (see the summary); 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bundle.cli import run_main  # noqa: E402

NETWORK = "musse-net"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset_dir", help="folder of RF files with JSON sidecars (or with a datalist.json)")
    p.add_argument("--output", default="runs/inference", help="run folder (default runs/inference)")
    p.add_argument("--overwrite", action="store_true", help="write into an existing output folder")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run in --output: keep its complete "
                   "case folders, do the rest")  # fmt: skip
    p.add_argument("--backend", choices=["pytorch", "onnxruntime"], default="pytorch", help="MUSSE-Net on PyTorch "
                   "(default) or its ONNX export on ONNX Runtime")  # fmt: skip
    p.add_argument("--dicom", action="store_true", help="also write DICOM Parametric Maps and overlays")
    p.add_argument("--no-png", action="store_true")
    p.add_argument("--frame-pairs", choices=["auto", "first", "consecutive"], help="override the sidecars")
    p.add_argument("--estimator", default=NETWORK, help=f"{NETWORK} (default) or a classical one: ncc, dp, glue")
    p.add_argument("--instance-steps", type=int, help="MUSSE-Net instance optimisation steps (0 = off)")
    p.add_argument("--checkpoint", help="network weights (default models/model.pt)")
    p.add_argument("--stage-one", action="store_true", help="the checkpoint holds stage one only (USSE-Net), e.g. "
                   "from fine-tuning with configs/train.json")  # fmt: skip
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if a.resume and a.overwrite:
        p.error("--overwrite replaces every case and --resume keeps the finished ones: choose one")

    from monai.bundle import run

    overrides = {
        "dataset_dir": str(Path(a.dataset_dir).resolve()),
        "output_dir": str(Path(a.output).resolve()),
        "overwrite": a.overwrite,
        "dicom": a.dicom,
        "png": not a.no_png,
        "progress": not a.no_progress,
        "frame_pairs": a.frame_pairs,
        "resume": a.resume,
        "backend": a.backend,
    }
    if a.backend == "onnxruntime" and a.instance_steps is None:
        overrides["instance_steps"] = 0  # instance optimisation needs PyTorch's gradients
    if a.estimator != NETWORK:
        overrides["estimator"] = f"$create_estimator({a.estimator!r})"
    if a.instance_steps is not None:
        overrides["instance_steps"] = a.instance_steps
    if a.checkpoint:
        overrides["checkpoint"] = str(Path(a.checkpoint).resolve())
    if a.stage_one:
        overrides.update(network_def="@stage_one_def", stages=1)
    os.chdir(ROOT)  # the config's %configs/... references are relative to the bundle root
    run(config_file=str(ROOT / "configs" / "inference.json"), **overrides)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

#!/usr/bin/env python
"""Export the bundle's network (both MUSSE-Net stages) to ONNX for ``--backend onnxruntime``.

Example (what made the shipped ``models/onnx``; about 10 minutes on 2 cores, most of it in torch.export's
symbolic shapes)::

    python scripts/export_onnx.py --checkpoint models/model.pt --output models/onnx

The network is ``configs/inference.json``'s ``network_def`` (``--stages 1``: stage one only), loaded from the
checkpoint. Writes ``encoder.onnx``, ``step.onnx``, ``refiner.onnx`` and ``manifest.json`` (opset, size
multiple, minimum frame, checkpoint SHA-256); see :mod:`bundle.networks.onnx_export`. The exported graphs are
then checked against PyTorch on one random sequence of two post frames, and the maximum difference printed.
Needs the ``export`` extra (``pip install '.[export]'``: onnx, onnxscript, onnxruntime). Exit status 2 on a
missing or unreadable checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bundle.bundle_config import read_bundle_config  # noqa: E402
from bundle.cli import run_main  # noqa: E402
from bundle.errors import ElastographyInputError  # noqa: E402
from bundle.networks.network_estimator import load_weights  # noqa: E402
from bundle.networks.onnx_export import OPSET, export_onnx  # noqa: E402
from bundle.networks.onnx_runtime import OnnxRuntimeNetwork  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=ROOT / "models" / "model.pt")
    p.add_argument("--output", type=Path, default=ROOT / "models" / "onnx")
    p.add_argument("--stages", type=int, choices=(1, 2), default=2)
    p.add_argument("--opset", type=int, default=OPSET)
    a = p.parse_args(argv)
    for noisy in ("onnxscript", "onnx_ir", "torch.onnx"):  # one INFO line per rewrite rule otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not a.checkpoint.is_file():
        raise ElastographyInputError("checkpoint not found", a.checkpoint)
    parser = read_bundle_config("inference.json")
    parser["stages"] = a.stages
    network = parser.get_parsed_content("network_def")
    load_weights(network, a.checkpoint, prefix="" if a.stages == 2 else "stage_one.")
    if a.stages == 1:
        network = network.stage_one
    network.eval()
    start = time.perf_counter()
    export_onnx(network, a.output, checkpoint=a.checkpoint, opset=a.opset)
    print(f"exported to {a.output} (opset {a.opset}) in {time.perf_counter() - start:.0f} s")
    torch.manual_seed(0)
    rows, lines = (m * k for m, k in zip(network.size_multiple, (64, 24), strict=True))
    frames = torch.randn(1, 3, rows, lines)
    with torch.no_grad():
        expected = network.forward_sequence(frames)
    got = OnnxRuntimeNetwork(a.output, stages=a.stages, checkpoint=a.checkpoint).forward_sequence(frames)
    print(
        f"ONNX Runtime vs PyTorch on random {rows} x {lines} frames: max |difference| "
        f"{(got - expected).abs().max().item():.2e} px (largest displacement {expected.abs().max().item():.1f} px)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

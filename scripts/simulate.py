#!/usr/bin/env python
"""Simulate a data set of RF compression sequences with exact ground truth.

Example::

    python scripts/simulate.py --output data/simulated --num-sequences 12 --post-frames 3
    python scripts/simulate.py --mode realistic --output data/realistic --num-sequences 1000 --post-frames 2

``--mode convolution`` (default) is the reference simulator with the acquisition given by the options below;
``--mode realistic`` draws acquisition, pulse, beam, attenuation, tissue (FEM), echogenicity and motion per
sequence (docs/simulation.md, section 7); the acquisition options are then not used.

The same job as a MONAI bundle config: ``python -m monai.bundle run --config_file configs/simulate.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bundle.acquisition import Acquisition  # noqa: E402
from bundle.cli import run_main  # noqa: E402
from bundle.errors import ElastographyInputError  # noqa: E402
from bundle.simulation.dataset import DatasetSpec, write_dataset  # noqa: E402
from bundle.simulation.phantom import PhantomConfig  # noqa: E402
from bundle.simulation.realistic import RealisticSpec  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", type=Path, required=True, help="folder to create (must not exist or be empty)")
    p.add_argument("--mode", choices=("convolution", "realistic"), default="convolution", help="which simulator")
    p.add_argument(
        "--realistic",
        default="{}",
        help="realistic mode: JSON of RealisticSpec fields to change, e.g. '{\"max_pixels\": 600000}'",
    )
    p.add_argument("--num-sequences", type=int, default=12)
    p.add_argument("--post-frames", type=int, default=3, help="post-compression frames per sequence (T)")
    p.add_argument("--height", type=int, default=2048, help="RF samples per line")
    p.add_argument("--width", type=int, default=128, help="RF lines")
    p.add_argument("--fs-mhz", type=float, default=40.0, help="sampling frequency (MHz)")
    p.add_argument("--fc-mhz", type=float, default=5.0, help="centre frequency (MHz)")
    p.add_argument("--bandwidth", type=float, default=0.7, help="fractional -6 dB bandwidth")
    p.add_argument("--pitch-mm", type=float, default=0.3, help="line pitch (mm)")
    p.add_argument("--c", type=float, default=1540.0, help="speed of sound (m/s)")
    p.add_argument("--snr-db", type=float, default=30.0, help="electronic noise SNR (dB)")
    p.add_argument("--min-strain", type=float, default=0.005)
    p.add_argument("--max-strain", type=float, default=0.03)
    p.add_argument("--lesion-probability", type=float, default=0.85)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--compress", action="store_true", help="write .nii.gz")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        realistic = RealisticSpec(**json.loads(a.realistic))
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise ElastographyInputError(f"--realistic: {err}") from None
    acquisition = Acquisition(a.fs_mhz * 1e6, a.fc_mhz * 1e6, a.c, a.pitch_mm, a.bandwidth)
    config = PhantomConfig(shape=(a.height, a.width), acquisition=acquisition, snr_db=a.snr_db)
    spec = DatasetSpec(
        num_sequences=a.num_sequences,
        num_post_frames=a.post_frames,
        strain_range=(a.min_strain, a.max_strain),
        lesion_probability=a.lesion_probability,
        seed=a.seed,
        compress=a.compress,
        mode=a.mode,
    )
    datalist = write_dataset(
        a.output,
        spec,
        config,
        workers=a.workers,
        overwrite=a.overwrite,
        progress=not a.no_progress,
        realistic=realistic,
    )
    print(f"wrote {spec.num_sequences} sequences; datalist: {datalist}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

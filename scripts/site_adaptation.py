"""Site adaptation on data with ground truth: fine-tune on half of one probe's recordings, score the other half.

What a hospital would run (``configs/train.json --dataset_dir <its RF folder>``: no ground truth, the key metric
is the warped NCC) is run here on one probe folder of the independent validation set, whose ground truth then
says whether the fine-tuning helped. This is the one permitted use of that set for training (issue 14): the
shipped weights never see it, and nothing here is selected on the scored half.

Steps (everything under ``--output``):

1. recordings sorted by name; even positions adapt, odd positions are scored (no recording is in both);
2. ``site_data/``: the adaptation half's RF files and sidecars only (no ground truth files), the folder a
   hospital would point training at;
3. ``train/``: ``python -m monai.bundle run`` of ``configs/train.json`` + ``configs/train_refine.json`` from the
   shipped ``models/model.pt``, both stages trained, the site's own split for the warped-NCC key metric;
4. ``before/`` and ``after/``: ``scripts/report.py`` on the scored half with the shipped and the fine-tuned
   weights (same estimators, same strain kernel); ``site_adaptation.md``: both tables.

Example::

    python scripts/site_adaptation.py --probe-dir data/foreign/L11-5V --output runs/site-L11-5V --epochs 6
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bundle.cli import run_main  # noqa: E402
from bundle.errors import ElastographyInputError  # noqa: E402


def split_recordings(entries: list[dict]) -> tuple[list[dict], list[dict]]:
    """(adapt, score): entries sorted by case name, even positions adapt, odd ones are scored."""
    ordered = sorted(entries, key=lambda e: e["case"])
    return ordered[0::2], ordered[1::2]


def _read_datalist(probe_dir: Path) -> list[dict]:
    path = probe_dir / "datalist.json"
    if not path.is_file():
        raise ElastographyInputError("no datalist.json in the probe folder", probe_dir)
    try:
        entries = json.loads(path.read_text())["test"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ElastographyInputError(f"not a validation-set datalist with a 'test' split ({err})", path) from None
    if len(entries) < 2:
        raise ElastographyInputError(f"need at least two recordings to split, found {len(entries)}", path)
    return entries


def _run(command: list[str], log: Path) -> None:
    print("+", " ".join(command), flush=True)
    with log.open("w") as out:
        done = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise ElastographyInputError(f"command failed with exit code {done.returncode}; see the log", log)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--probe-dir", type=Path, required=True, help="one probe folder of the validation set")
    p.add_argument("--output", type=Path, required=True, help="folder to create")
    p.add_argument("--checkpoint", type=Path, default=ROOT / "models" / "model.pt", help="weights to adapt")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--crop-rows", type=int, default=512, help="canonical-grid rows per training crop")
    p.add_argument("--crop-lines", type=int, default=32, help="canonical-grid lines per training crop")
    p.add_argument("--estimators", default="ncc,usse-net,musse-net", help="rows of the before/after tables")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    if a.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {a.epochs}")
    probe_dir, output = a.probe_dir.resolve(), a.output.resolve()
    adapt, score = split_recordings(_read_datalist(probe_dir))
    if output.exists():
        if not a.overwrite:
            raise ElastographyInputError("output folder exists (use --overwrite)", output)
        shutil.rmtree(output)
    site = output / "site_data"
    site.mkdir(parents=True)
    for entry in adapt:  # RF and sidecar only: what a hospital has
        for key in ("image", "sidecar"):
            shutil.copy2(probe_dir / entry[key], site / entry[key])
    absolute = [
        {k: (str(probe_dir / v) if k in ("image", "sidecar", "displacement", "strain") else v) for k, v in e.items()}
        for e in score
    ]
    scored = output / "scored_datalist.json"
    scored.write_text(json.dumps({"description": f"scored half of {probe_dir.name}", "test": absolute}, indent=1))
    python = sys.executable
    train_dir = output / "train"
    _run(
        [
            python,
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            "['configs/train.json','configs/train_refine.json']",
            "--dataset_dir",
            str(site),
            "--output_dir",
            str(train_dir),
            "--stage_one_checkpoint",
            "",
            "--freeze_stage_one",
            "False",  # fire reads False as the bool; "false" would be a (truthy) string
            "--pretrained_checkpoint",
            str(a.checkpoint.resolve()),
            "--pretrained_prefix",
            "",
            "--consistency#composition",
            "0.05",
            "--epochs",
            str(a.epochs),
            "--val_interval",
            "1",
            "--learning_rate",
            str(a.learning_rate),
            "--crop_rows",
            str(a.crop_rows),
            "--crop_lines",
            str(a.crop_lines),
        ],
        output / "train.log",
    )
    adapted = train_dir / "checkpoints" / "model.pt"
    tables = {}
    for label, weights in (("before", a.checkpoint.resolve()), ("after", adapted)):
        _run(
            [
                python,
                "scripts/report.py",
                "--datalist",
                str(scored),
                "--split",
                "test",
                "--estimators",
                a.estimators,
                "--checkpoint",
                str(weights),
                "--output",
                str(output / label),
                "--overwrite",
                "--no-progress",
            ],
            output / f"{label}.log",
        )
        tables[label] = (output / label / "report.md").read_text()
    lines = [
        f"# Site adaptation on {probe_dir.name}",
        "",
        f"Adapted on ({len(adapt)}): {', '.join(e['case'] for e in adapt)}",
        f"Scored on ({len(score)}): {', '.join(e['case'] for e in score)}",
        f"Fine-tuning: {a.epochs} epochs, learning rate {a.learning_rate:g}, crops {a.crop_rows} x {a.crop_lines}"
        f" (canonical grid), from {a.checkpoint}; log `train.log`, weights `train/checkpoints/model.pt`.",
        "",
        "## Before (shipped weights)",
        "",
        tables["before"],
        "",
        "## After (fine-tuned on the other half, no ground truth)",
        "",
        tables["after"],
    ]
    (output / "site_adaptation.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {output / 'site_adaptation.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

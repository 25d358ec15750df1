#!/usr/bin/env python
"""Print the newest MLflow run of an experiment: parameters, last metric values, artifacts.

    python scripts/show_mlflow.py --tracking-uri sqlite:///runs/demo/train/mlruns.db --experiment elastography

Browse the same store with ``mlflow ui --backend-store-uri sqlite:///runs/demo/train/mlruns.db --workers 1``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bundle.cli import run_main  # noqa: E402
from bundle.errors import ElastographyInputError  # noqa: E402


def _artifacts(client, run_id: str, path: str = "") -> list[str]:
    out = []
    for item in client.list_artifacts(run_id, path):
        out += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracking-uri", required=True, help="e.g. sqlite:///runs/demo/train/mlruns.db")
    p.add_argument("--experiment", default="elastography")
    a = p.parse_args(argv)
    import mlflow

    client = mlflow.MlflowClient(a.tracking_uri)
    experiment = client.get_experiment_by_name(a.experiment)
    if experiment is None:
        raise ElastographyInputError(f"no MLflow experiment '{a.experiment}' in {a.tracking_uri}")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        raise ElastographyInputError(f"experiment '{a.experiment}' has no run")
    run = runs[0]
    print(f"MLflow run {run.info.run_id} ({run.info.status}) in experiment '{a.experiment}'")
    for key, value in sorted(run.data.params.items()):
        print(f"  param  {key} = {value}")
    for key, value in sorted(run.data.metrics.items()):
        print(f"  metric {key} = {value:.4g}")
    for key in ("package_version", "mlflow.source.git.commit"):
        if key in run.data.tags:
            print(f"  tag    {key} = {run.data.tags[key]}")
    for dataset in run.inputs.dataset_inputs:
        print(f"  input  {dataset.dataset.name} ({dataset.dataset.source_type}, digest {dataset.dataset.digest})")
    for path in _artifacts(client, run.info.run_id):
        print(f"  artifact {path}")
    mlflow.set_tracking_uri(a.tracking_uri)
    for model in mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list"):
        if model.source_run_id == run.info.run_id:
            print(f"  model  {model.name}: models:/{model.model_id} (register with mlflow.register_model)")
    print(f"browse: mlflow ui --backend-store-uri {a.tracking_uri} --workers 1  (view 'Model training')")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

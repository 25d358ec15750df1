"""Log what MONAI's ``--tracking mlflow`` leaves out: the validation strain figures and the trained model.

MONAI's MLFlowHandler logs parameters, losses, metrics and the executed config. At the end of training this
handler adds the files in ``paths`` (folders recursively) as artifacts of the MLflow run that the same training
started. Without ``--tracking mlflow`` (or without mlflow installed) there is no such run and it does nothing:
it never attaches files to a run of an earlier training.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path

from ignite.engine import Engine, Events

__all__ = ["MLflowArtifactsHandler"]

logger = logging.getLogger(__name__)


class MLflowArtifactsHandler:
    """Args: ``tracking_uri`` and ``experiment_name`` as given to MLFlowHandler; ``paths`` files, folders or
    glob patterns (e.g. the executed config ``<output_dir>/config_*.json`` that MONAI writes)."""

    def __init__(self, tracking_uri: str, experiment_name: str, paths: list[str]):
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.patterns = [str(p) for p in paths]
        self.started_ms = 0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _started(self, engine: Engine) -> None:
        self.started_ms = int(time.time() * 1000) - 60_000  # MLFlowHandler's run may start just before us

    def _completed(self, engine: Engine) -> None:
        if importlib.util.find_spec("mlflow") is None:  # then MONAI's MLFlowHandler cannot have run either
            return
        import mlflow  # here, not at module level: importing it takes seconds

        client = mlflow.MlflowClient(self.tracking_uri)
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"attributes.start_time >= {self.started_ms}",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            return
        run_id = runs[0].info.run_id
        paths = [
            q for p in self.patterns for q in (sorted(Path(p).parent.glob(Path(p).name)) if "*" in p else [Path(p)])
        ]
        for path in paths:
            if path.is_dir():
                client.log_artifacts(run_id, str(path), artifact_path=path.name)
            elif path.is_file():
                client.log_artifact(run_id, str(path))
        logger.info("logged %s to MLflow run %s", ", ".join(str(p) for p in paths if p.exists()), run_id)

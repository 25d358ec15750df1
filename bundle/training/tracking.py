"""What a reviewer compares MLflow runs by, logged into the run that MONAI's ``--tracking mlflow`` opened.

MONAI's MLFlowHandler logs losses, metrics and the executed config. :class:`MLflowRunLogger` adds:

- at the first epoch: the hyper-parameters (``params``, nested dicts flattened to ``loss.similarity`` ...),
  tags (package version, git commit as ``mlflow.source.git.commit``) and the training set as an MLflow dataset
  input (one row per entry, its folder as the source);
- at the end: the validation figures, the best checkpoint and the executed config as artifacts, and the best
  weights as an **MLflow model** (``mlflow.pytorch.log_model`` with an input example and a signature) that can be
  registered.

The run is found by **identity**: the MLFlowHandler attached to the same engine and the run it uses. Its run name
comes from :func:`run_name_for`, stored in the output folder, so a resumed training re-attaches its own run
(MONAI's handler reopens an unfinished run of that name) and two trainings in one experiment never cross.
Without ``--tracking mlflow`` there is no such handler and this one does nothing.
"""

from __future__ import annotations

import logging
import subprocess
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

from bundle.io.atomic import atomic_write_text

__all__ = ["MLflowRunLogger", "flatten_params", "git_commit", "run_name_for"]

logger = logging.getLogger(__name__)

RUN_NAME_FILE = "mlflow_run_name.txt"


def run_name_for(output_dir: str | Path) -> str:
    """The MLflow run name of the training in ``output_dir``: read from ``mlflow_run_name.txt`` there, or made
    (folder name, start time, random suffix) and written there on the first call."""
    path = Path(output_dir) / RUN_NAME_FILE
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    name = f"{Path(output_dir).resolve().name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    atomic_write_text(path, name + "\n", overwrite=True)
    return name


def git_commit(folder: str | Path = ".") -> str:
    """``git rev-parse HEAD`` of the checkout holding ``folder`` (``+dirty`` with uncommitted changes), or
    ``"unknown"`` outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def flatten_params(params: dict, prefix: str = "") -> dict[str, str]:
    """``{"loss": {"similarity": 1.0}}`` -> ``{"loss.similarity": "1.0"}``; lists and tuples as text."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = str(list(value) if isinstance(value, tuple) else value)
    return flat


def _mlflow_handlers(engine: Engine) -> list:
    """The MONAI MLFlowHandlers attached to ``engine`` (none without ``--tracking mlflow``)."""
    from monai.handlers import MLFlowHandler

    found = []
    for handler, *_ in engine._event_handlers.get(Events.STARTED, []):  # ignite keeps no public list
        owner = getattr(handler, "__self__", None)
        if isinstance(owner, MLFlowHandler) and owner not in found:
            found.append(owner)
    return found


class MLflowRunLogger:
    """Args:
    params: hyper-parameters (nested dicts allowed); tags: run tags.
    dataset: training entries (dicts) and ``dataset_source`` the folder they come from.
    artifacts: files, folders or glob patterns logged at the end (e.g. ``<output_dir>/config_*.json``).
    network: the trained module; ``best_checkpoint``: the weights to log as the MLflow model (the best
    validation epoch; the module's last weights when the file does not exist).
    input_shape: ``(B, 2, H, W)`` of the input example (pre, post RF) for the model signature.
    """

    def __init__(
        self,
        params: dict,
        tags: dict | None = None,
        dataset: list[dict] | None = None,
        dataset_source: str = "",
        artifacts: list[str] | None = None,
        network: torch.nn.Module | None = None,
        best_checkpoint: str | None = None,
        input_shape: tuple[int, int, int, int] = (1, 2, 128, 16),
    ):
        self.params = flatten_params(params)
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.dataset = list(dataset or [])
        self.dataset_source = str(dataset_source)
        self.patterns = [str(p) for p in (artifacts or [])]
        self.network = network
        self.best_checkpoint = best_checkpoint
        self.input_shape = tuple(int(s) for s in input_shape)
        self._described = False

    def attach(self, engine: Engine) -> None:
        # EPOCH_STARTED comes after every STARTED handler, so MONAI's MLFlowHandler has its run by then
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _run(self, engine: Engine):
        """(client, run id) of the run MONAI's handler uses for ``engine``, or None without tracking."""
        for handler in _mlflow_handlers(engine):
            if handler.cur_run is not None:
                return handler.client, handler.cur_run.info.run_id
        return None

    def _epoch_started(self, engine: Engine) -> None:
        found = None if self._described else self._run(engine)
        if found is None:
            return
        client, run_id = found
        self._described = True
        logged = client.get_run(run_id).data.params
        for key, value in self.params.items():
            if key in logged and logged[key] != value:
                # MLflow params cannot change; a resume with other settings keeps the first and says so
                logger.warning("MLflow param %s stays %s (this resumed run has %s)", key, logged[key], value)
        new = {k: v for k, v in self.params.items() if k not in logged}
        from mlflow.entities import Param, RunTag

        client.log_batch(
            run_id, params=[Param(k, v) for k, v in new.items()], tags=[RunTag(k, v) for k, v in self.tags.items()]
        )
        if self.dataset:
            self._log_dataset(client, run_id)

    def _log_dataset(self, client, run_id: str) -> None:
        import mlflow
        import pandas
        from mlflow.entities import DatasetInput, InputTag

        frame = pandas.DataFrame([{k: str(v) for k, v in entry.items()} for entry in self.dataset])
        with warnings.catch_warnings():  # a local folder matches two equivalent registered source kinds
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            dataset = mlflow.data.from_pandas(frame, source=self.dataset_source or None, name="training")
        if any(d.dataset.digest == dataset.digest for d in client.get_run(run_id).inputs.dataset_inputs):
            return  # a resumed run has it already
        tag = InputTag(key="mlflow.data.context", value="training")
        client.log_inputs(run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), tags=[tag])])

    def _completed(self, engine: Engine) -> None:
        found = self._run(engine)
        if found is None:
            return
        client, run_id = found
        paths = [
            q for p in self.patterns for q in (sorted(Path(p).parent.glob(Path(p).name)) if "*" in p else [Path(p)])
        ]
        for path in paths:
            if path.is_dir():
                client.log_artifacts(run_id, str(path), artifact_path=path.name)
            elif path.is_file():
                client.log_artifact(run_id, str(path))
        logger.info("logged %s to MLflow run %s", ", ".join(str(p) for p in paths if p.exists()), run_id)
        if self.network is not None:
            self._log_model(client, run_id)

    def _log_model(self, client, run_id: str) -> None:
        import copy

        import mlflow
        import mlflow.pytorch
        from mlflow.models import infer_signature

        from bundle.networks.network_estimator import load_weights

        network = copy.deepcopy(getattr(self.network, "module", self.network)).cpu().eval()
        if self.best_checkpoint and Path(self.best_checkpoint).is_file():
            load_weights(network, self.best_checkpoint)
        rng = np.random.default_rng(0)
        example = rng.standard_normal(self.input_shape).astype(np.float32)  # speckle-like RF of the input size
        with torch.inference_mode():
            output = network(torch.from_numpy(example)).numpy()
        signature = infer_signature(example, output)
        requirements = [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"]
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(client.tracking_uri)
        try:
            with mlflow.start_run(run_id=run_id):
                info = mlflow.pytorch.log_model(
                    network,
                    name="model",
                    signature=signature,
                    input_example=example,
                    pip_requirements=requirements,  # given, so MLflow does not load the model to infer them
                    serialization_format="pickle",  # torch.export of the attention network takes ~15 s
                    code_paths=[str(Path(__file__).resolve().parents[1])],  # the bundle package: loadable anywhere
                )
        finally:
            mlflow.set_tracking_uri(previous)
        logger.info("logged the MLflow model %s (run %s)", info.model_uri, run_id)

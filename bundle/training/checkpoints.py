"""Checkpoints of a training run that survive a kill at any moment and a resume in a new process.

- :func:`latest_checkpoint`: the epoch checkpoint to resume from, chosen by **epoch number** (not by file time,
  which a copy or a restore changes); a file that is not a complete PyTorch checkpoint is passed over.
- :class:`EpochCheckpointSaver`: writes ``checkpoint_epoch=<k>.pt`` every epoch under a temporary name, renamed
  when complete, and only then removes the ones beyond ``n_saved``, including those an earlier process left.
- :class:`BestModelSaver`: writes ``model.pt`` (the network's state dict) when the evaluator reaches a new best
  key metric. Its state (best value and epoch) travels in every epoch checkpoint, so a resumed run compares
  with the best of the process before the kill instead of taking its first validation as the best.

MONAI's ``CheckpointSaver`` is not used for these: it writes in place (a kill mid-write leaves a broken file), it
removes the previous file before writing the next, and its key-metric list starts empty in every process.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint
from ignite.handlers.checkpoint import BaseSaveHandler

from bundle.errors import ElastographyInputError
from bundle.io.atomic import atomic_path

__all__ = ["BestModelSaver", "EpochCheckpointSaver", "checkpoint_epoch", "checkpoint_file", "latest_checkpoint"]

logger = logging.getLogger(__name__)

EPOCH_PATTERN = re.compile(r"checkpoint_epoch=(\d+)\.pt$")


def checkpoint_epoch(path: str | Path) -> int | None:
    """The epoch in a name ``checkpoint_epoch=<k>.pt``, or None for another name."""
    match = EPOCH_PATTERN.search(Path(path).name)
    return int(match.group(1)) if match else None


def _is_complete(path: Path) -> bool:
    # torch.save writes a zip archive whose directory is at the end: a truncated or foreign file has none
    return path.is_file() and path.stat().st_size > 0 and zipfile.is_zipfile(path)


def checkpoint_file(path: str | Path) -> str:
    """``path`` as a string when it is a complete PyTorch checkpoint; otherwise ElastographyInputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ElastographyInputError("checkpoint not found", path)
    if not _is_complete(path):
        raise ElastographyInputError("not a PyTorch checkpoint (empty, truncated or another kind of file)", path)
    return str(path)


def latest_checkpoint(folder: str | Path) -> str:
    """The complete ``checkpoint_epoch=<k>.pt`` of the highest epoch in ``folder``, or ``""`` when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        return ""
    candidates = sorted(
        ((checkpoint_epoch(p), p) for p in folder.iterdir() if checkpoint_epoch(p) is not None), reverse=True
    )
    for epoch, path in candidates:
        if _is_complete(path):
            return str(path)
        logger.warning("%s is not a complete checkpoint (epoch %d); trying an earlier one", path, epoch)
    return ""


class _AtomicDiskSaver(BaseSaveHandler):
    """ignite save handler: temporary name then rename (process umask); removals wait until the next file is in
    place, because ignite asks to remove the old checkpoint before it writes the new one."""

    def __init__(self, folder: Path, filename: str | None = None):
        self.folder = folder
        self.filename = filename
        self._pending_removal: list[str] = []

    def __call__(self, checkpoint, filename: str, metadata=None) -> None:
        destination = self.folder / (self.filename or filename)
        with atomic_path(destination, overwrite=True) as tmp:
            torch.save(checkpoint, tmp)
        for name in self._pending_removal:
            if name != destination.name:
                (self.folder / name).unlink(missing_ok=True)
        self._pending_removal = []

    def remove(self, filename: str) -> None:
        self._pending_removal.append(self.filename or filename)


class EpochCheckpointSaver:
    """Saves ``save_dict`` (objects with ``state_dict``) as ``<save_dir>/checkpoint_epoch=<k>.pt`` every
    ``save_interval`` epochs of the engine it is attached to, keeping the ``n_saved`` newest epochs."""

    def __init__(self, save_dir: str | Path, save_dict: dict, n_saved: int = 1, save_interval: int = 1):
        if n_saved < 1 or save_interval < 1:
            raise ValueError(f"n_saved and save_interval must be >= 1, got {n_saved} and {save_interval}")
        self.save_dir = Path(save_dir)
        self.save_interval = int(save_interval)
        self.checkpoint = Checkpoint(
            save_dict,
            _AtomicDiskSaver(self.save_dir),
            score_function=lambda engine: engine.state.epoch,
            score_name="epoch",
            n_saved=int(n_saved),
            filename_pattern="checkpoint_{score_name}={score}.{ext}",  # whatever save_dict holds
        )

    def attach(self, engine: Engine) -> None:
        # files of an earlier process count towards n_saved, so a resumed run removes them in turn
        on_disk = sorted(
            (checkpoint_epoch(p), p.name) for p in self.save_dir.glob("checkpoint_epoch=*.pt") if checkpoint_epoch(p)
        )
        self.checkpoint.load_state_dict({"_saved": on_disk})
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.save_interval), self.checkpoint)


class BestModelSaver:
    """Writes ``network``'s state dict to ``path`` whenever the evaluator it is attached to reaches a new best
    key metric (MONAI's evaluator decides, by its ``metric_cmp_fn``, before this handler runs).

    ``state_dict()`` / ``load_state_dict()`` carry the evaluator's ``best_metric`` and ``best_metric_epoch``: put
    this object in the epoch checkpoint's save and load dicts so that a resume keeps the earlier best.
    """

    def __init__(self, network: torch.nn.Module, path: str | Path):
        self.network = network
        self.path = Path(path)
        self.engine: Engine | None = None
        self._restored: dict | None = None

    def attach(self, engine: Engine) -> None:
        self.engine = engine
        if self._restored is not None:
            self._apply(self._restored)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)

    def _epoch_completed(self, engine: Engine) -> None:
        if engine.state.best_metric_epoch != engine.state.epoch:
            return
        network = getattr(self.network, "module", self.network)  # the bare network under DataParallel/DDP
        with atomic_path(self.path, overwrite=True) as tmp:
            torch.save(network.state_dict(), tmp)
        logger.info(
            "saved %s: best %s %.6g at epoch %d",
            self.path,
            engine.state.key_metric_name,
            engine.state.best_metric,
            engine.state.best_metric_epoch,
        )

    def state_dict(self) -> dict:
        state = self.engine.state if self.engine is not None else None
        if state is None:
            return dict(self._restored or {"best_metric": -1.0, "best_metric_epoch": -1})
        return {"best_metric": float(state.best_metric), "best_metric_epoch": int(state.best_metric_epoch)}

    def load_state_dict(self, state: dict) -> None:
        restored = {"best_metric": float(state["best_metric"]), "best_metric_epoch": int(state["best_metric_epoch"])}
        self._restored = restored
        if self.engine is not None:
            self._apply(restored)

    def _apply(self, restored: dict) -> None:
        self.engine.state.best_metric = restored["best_metric"]
        self.engine.state.best_metric_epoch = restored["best_metric_epoch"]

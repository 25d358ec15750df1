"""Finding the checkpoint to resume a killed training run from."""

from __future__ import annotations

from pathlib import Path

__all__ = ["latest_checkpoint"]


def latest_checkpoint(folder: str | Path, pattern: str = "*checkpoint_epoch=*.pt") -> str:
    """Newest file matching ``pattern`` in ``folder`` (by modification time), or ``""`` when there is none.

    The trainer's CheckpointSaver writes them atomically (ignite's DiskSaver), so the newest one is complete.
    """
    folder = Path(folder)
    files = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    return str(files[-1]) if files else ""

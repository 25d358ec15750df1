"""Strain of one frame pair of one recording, on request: everything a server needs that is not the server.

A front end (the MONAI Label app in ``scripts/monailabel_app``, or any other) holds one :class:`StrainService`.
It builds the estimator from the bundle's own ``configs/inference.json``, so the network, checkpoint, canonical
grid and strain kernel are those of batch inference (:mod:`bundle.inference`). It answers each request with a
:class:`PairResult` and writes the file a viewer opens: the strain (a float NIfTI, not a label map), the
displacement in mm, or the colour overlay (PNG).

This module must import in MONAI Label's environment (numpy < 2, pydicom < 3, no highdicom). So it uses the
readers, the estimator and the overlay, never the DICOM export; ``tests/label`` checks this.

Errors: the recording's problems raise :class:`~bundle.errors.ElastographyInputError` naming the file; a bad
request (only one of ``pre`` and ``post``, an unknown result kind) raises ``ValueError``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bundle.acquisition import Acquisition
from bundle.bundle_config import bundle_root as default_bundle_root
from bundle.bundle_config import read_bundle_config
from bundle.errors import ElastographyInputError
from bundle.io.nifti import write_nifti
from bundle.io.readers import read_rf
from bundle.pairs import FramePair, choose_frame_pairs, estimate_pairs

__all__ = ["RESULT_KINDS", "PairResult", "StrainService"]

#: what a request can ask for, and the file type each kind is written as
RESULT_KINDS = {"strain": ".nii.gz", "displacement": ".nii.gz", "overlay": ".png"}


@dataclass(frozen=True)
class PairResult:
    """The estimate for one pair of one recording.

    Attributes:
        source: the RF file.
        pre, post: the file's frame numbers of the pair (PLUS frames marked invalid keep their numbers).
        pre_frame: ``(H, W)`` pre-compression RF (for the overlay's B-mode).
        displacement_mm: ``(2, H, W)`` axial then lateral displacement, mm.
        strain: ``(H, W)`` axial strain, a fraction (negative = compression).
        acquisition: the recording's acquisition (spacing of every map).
        estimator: the estimator's name; seconds: its wall time (for the whole sequence).
        sequence_posts: the post frames estimated together with this pair's (file frame numbers, this one
            included): batch inference's grouping, see :meth:`StrainService.estimate`.
    """

    source: Path
    pre: int
    post: int
    pre_frame: np.ndarray
    displacement_mm: np.ndarray
    strain: np.ndarray
    acquisition: Acquisition
    estimator: str
    seconds: float
    sequence_posts: tuple[int, ...]

    def summary(self) -> dict:
        """JSON-ready description of the result (no arrays)."""
        h, w = self.strain.shape
        return {
            "recording": self.source.name,
            "pre_frame": self.pre,
            "post_frame": self.post,
            "estimator": self.estimator,
            "estimated_with_posts": list(self.sequence_posts),
            "shape": [h, w],
            "spacing_mm": [float(s) for s in self.acquisition.spacing_mm],
            "strain_unit": "fraction (negative = compression)",
            "displacement_unit": "mm, axial then lateral",
            "mean_strain": float(np.mean(self.strain)),
            "seconds": round(self.seconds, 3),
        }


def _frame_index(numbers: np.ndarray, frame: int, which: str, path: Path) -> int:
    matches = np.flatnonzero(numbers == frame)
    if matches.size == 0:
        raise ElastographyInputError(
            f"{which} frame {frame} is not in the file (its frames are {int(numbers[0])}..{int(numbers[-1])})", path
        )
    return int(matches[0])


class StrainService:
    """The bundle's estimator behind a request interface: load once, then one pair per call (thread-safe).

    Args:
        bundle_root: folder with ``configs/inference.json`` and ``configs/metadata.json``; default
            :func:`default_bundle_root`.
        checkpoint: weights file; default ``<bundle_root>/models/model.pt``.
        instance_steps: instance-optimisation steps per pair (the config's ``instance_steps``); 0 = the network
            alone, which is what an interactive viewer wants (seconds, not tens of seconds, on a CPU).
        device: torch device; default the config's (CUDA when present).

    Raises:
        ElastographyInputError: the config, the metadata or the checkpoint is missing.
    """

    def __init__(
        self,
        bundle_root: str | Path | None = None,
        checkpoint: str | Path | None = None,
        instance_steps: int = 0,
        device: str | None = None,
    ):
        if int(instance_steps) < 0:
            raise ValueError(f"instance_steps must be >= 0, got {instance_steps}")
        root = Path(bundle_root) if bundle_root is not None else default_bundle_root()
        parser = read_bundle_config("inference.json", root)
        meta = root / "configs" / "metadata.json"
        if not meta.is_file():
            raise ElastographyInputError("bundle file not found", meta)
        weights = Path(checkpoint) if checkpoint is not None else root / "models" / "model.pt"
        if not weights.is_file():
            raise ElastographyInputError("model file not found (give another with the checkpoint setting)", weights)
        self.metadata = json.loads(meta.read_text())
        # The config's imports serve its batch recipe (DICOM export: highdicom, pydicom 3); the estimator needs
        # none of them, and a MONAI Label environment has pydicom 2.
        parser["imports"] = []
        parser["checkpoint"] = str(weights)
        parser["instance_steps"] = int(instance_steps)
        if device is not None:
            parser["device"] = device
        self.estimator = parser.get_parsed_content("estimator")
        self.checkpoint = weights
        self._lock = threading.Lock()  # one forward pass at a time: a server's threads share the network

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", "musse-net"))

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    def estimate(self, path: str | Path, pre: int | None = None, post: int | None = None) -> PairResult:
        """Displacement and strain of frames ``pre`` -> ``post`` (file frame numbers) of the recording at ``path``
        (its JSON sidecar beside it); with neither given, the first pair the sidecar's pairing chooses.

        The pair is estimated as batch inference estimates it: together with the other post frames that the
        sidecar's pairing gives the same pre frame (:func:`bundle.pairs.estimate_pairs`), so that the served map
        equals the one batch inference writes. A pair outside that pairing is estimated alone."""
        path = Path(path)
        if (pre is None) != (post is None):
            raise ValueError("give both the pre and the post frame, or neither (the sidecar's pairing chooses)")
        rf = read_rf(path)
        numbers = rf.file_frame_numbers()
        if pre is None:
            pairs = choose_frame_pairs(rf)
            target = pairs[0]
        else:
            if pre == post:
                raise ValueError(f"pre and post are the same frame ({pre}); a pair needs two frames")
            target = FramePair(_frame_index(numbers, pre, "pre", path), _frame_index(numbers, post, "post", path))
            try:
                pairs = choose_frame_pairs(rf)
            except ElastographyInputError:  # the sidecar's pairing finds nothing usable: the asked pair alone
                pairs = []
        sequence = [p for p in pairs if p.pre == target.pre]
        where = [k for k, p in enumerate(sequence) if p.post == target.post]
        if not where:
            sequence, where = [target], [0]
        start = time.perf_counter()
        with self._lock:
            displacement = estimate_pairs(self.estimator, rf.frames, sequence, rf.acquisition)
            strain = self.estimator.strain(displacement, rf.acquisition)
        k = where[0]
        return PairResult(
            source=path,
            pre=int(numbers[target.pre]),
            post=int(numbers[target.post]),
            pre_frame=rf.frames[target.pre],
            displacement_mm=displacement[k],
            strain=strain[k],
            acquisition=rf.acquisition,
            estimator=self.estimator.name,
            seconds=time.perf_counter() - start,
            sequence_posts=tuple(int(numbers[p.post]) for p in sequence),
        )

    def write(self, result: PairResult, kind: str, path: str | Path) -> Path:
        """Write ``kind`` (a key of :data:`RESULT_KINDS`) of ``result`` to ``path`` (ending in the kind's suffix).

        strain: ``(H, W)`` float32 NIfTI, spacing in mm; displacement: ``(H, W, 2)`` float32 NIfTI, axial then
        lateral, mm; overlay: RGB PNG of the B-mode with the strain in colour (the PACS overlay's picture)."""
        if kind not in RESULT_KINDS:
            raise ValueError(f"unknown result {kind!r}; choose one of {', '.join(RESULT_KINDS)}")
        path = Path(path)
        if not path.name.endswith(RESULT_KINDS[kind]):
            raise ValueError(f"a {kind} result is written as {RESULT_KINDS[kind]}, not {path.name}")
        spacing = result.acquisition.spacing_mm
        if kind == "strain":
            return write_nifti(path, result.strain.astype(np.float32), spacing, overwrite=True)
        if kind == "displacement":
            return write_nifti(path, np.moveaxis(result.displacement_mm, 0, -1).astype(np.float32), spacing, True)
        from matplotlib.image import imsave

        from bundle.export.overlay import render_strain_overlay  # matplotlib: only when a picture is asked for

        title = f"{result.source.name}, frames {result.pre}->{result.post}"
        imsave(path, render_strain_overlay(result.pre_frame, result.strain, spacing, title=title))
        return path

"""MONAI engines for unsupervised elastography: the loss needs the frames, not labels, so ``_iteration`` differs.

- :class:`ElastographyTrainer`: ``batchdata["image"]`` is ``(B, 1 + T, H, W)`` (pre, posts); the network's
  ``forward_sequence`` gives ``(B, T, 2, H, W)`` pixels; the loss module returns a dict of terms whose
  ``"loss"`` is back-propagated. ``engine.state.output`` is ``[{term: float}]`` so MONAI's
  ``from_engine(["loss"], first=True)`` (used by StatsHandler and ``--tracking mlflow``) reads it.
- :class:`ElastographyEvaluator`: each item is a datalist entry (absolute paths, batch of one); the case is
  scored by :func:`bundle.evaluation.evaluate_case` through :class:`bundle.networks.network_estimator.NetworkEstimator`
  wrapping the engine's network: validation computes exactly the figures the evaluation reports.
"""

from __future__ import annotations

from pathlib import Path

import torch
from monai.engines import SupervisedEvaluator, SupervisedTrainer

from bundle.canonical_grid import CanonicalGrid
from bundle.evaluation.cases import load_case
from bundle.evaluation.runner import evaluate_case
from bundle.networks.network_estimator import NetworkEstimator
from bundle.plotting import save_strain_panel

__all__ = ["ElastographyTrainer", "ElastographyEvaluator"]


class ElastographyTrainer(SupervisedTrainer):
    """SupervisedTrainer whose iteration is: sequence forward -> unsupervised loss terms -> step.

    ``consistency_function`` (optional, e.g. :class:`bundle.losses.SequenceConsistencyLoss`) adds the
    cross-level terms; when it ``needs_chained``, the network also estimates post_j -> post_(j+1) for the
    consecutive post frames of each sequence (one extra pair pass per level) for the composition term.
    """

    def __init__(self, *args, consistency_function=None, **kwargs):
        kwargs.setdefault("decollate", False)
        super().__init__(*args, **kwargs)
        self.consistency_function = consistency_function

    @staticmethod
    def _chained(network, frames: torch.Tensor) -> torch.Tensor | None:
        """Estimates post_j -> post_(j+1): ``(B, T - 1, 2, H, W)`` pixels (None for T = 1)."""
        b, n, h, w = frames.shape
        t = n - 1
        if t < 2:
            return None
        pairs = torch.stack((frames[:, 1:-1], frames[:, 2:]), dim=2).reshape(b * (t - 1), 2, h, w)
        return network(pairs).reshape(b, t - 1, 2, h, w)

    def _iteration(self, engine, batchdata):
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        frames = batchdata["image"] if isinstance(batchdata, dict) else batchdata
        frames = torch.as_tensor(frames).to(engine.state.device, non_blocking=engine.non_blocking).float()
        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=True)
        # AMP on CUDA only: CPU autocast (bfloat16) makes these convolutions ~50x slower, not faster
        with torch.autocast(device_type=frames.device.type, enabled=bool(engine.amp) and frames.is_cuda):
            # through the module's call, not .forward_sequence: DistributedDataParallel syncs only that path
            displacement = engine.network(frames, sequence=True)
            terms = engine.loss_function(frames[:, :1], frames[:, 1:], displacement.float())
            consistency = self.consistency_function
            if consistency is not None:
                chained = self._chained(engine.network, frames) if consistency.needs_chained else None
                extra = consistency(displacement.float(), None if chained is None else chained.float())
                total = terms["loss"] + extra["loss"]
                terms = {**terms, **{k: v for k, v in extra.items() if k != "loss"}, "loss": total}
        loss = terms["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at iteration {engine.state.iteration}")
        if engine.amp and getattr(engine, "scaler", None) is not None:
            engine.scaler.scale(loss).backward()
            engine.scaler.step(engine.optimizer)
            engine.scaler.update()
        else:
            loss.backward()
            engine.optimizer.step()
        engine.state.output = [{name: float(value.detach()) for name, value in terms.items()}]
        return engine.state.output


class ElastographyEvaluator(SupervisedEvaluator):
    """Scores the network on whole validation cases with the evaluation's metrics.

    Args (beyond SupervisedEvaluator's): ``strain_kernel_mm`` of the strain the figures use, ``figure_dir``
    where a strain panel of the first case is written at every validation run (``epoch_XXXX.png``),
    ``region_kwargs`` for :func:`bundle.metrics.phantom_regions`, ``canonical_grid`` the network's input grid (as
    :class:`NetworkEstimator`; it must be the grid the training crops were resampled to).
    """

    def __init__(
        self,
        *args,
        strain_kernel_mm: float = 2.5,
        figure_dir: str | None = None,
        region_kwargs=None,
        canonical_grid: CanonicalGrid | None = None,
        **kw,
    ):
        kw.setdefault("decollate", False)
        super().__init__(*args, **kw)
        self.canonical_grid = canonical_grid
        self.strain_kernel_mm = strain_kernel_mm
        self.figure_dir = None if figure_dir is None else Path(figure_dir)
        self.region_kwargs = region_kwargs or {}

    def _iteration(self, engine, batchdata):
        estimator = NetworkEstimator(
            checkpoint=None,
            network=engine.network,
            device=str(engine.state.device),
            strain_kernel_mm=self.strain_kernel_mm,
            canonical_grid=self.canonical_grid,
        )
        case = load_case(batchdata, "/")
        rows, _, maps = evaluate_case(case, {"usse-net": estimator}, self.region_kwargs)
        if self.figure_dir is not None and engine.state.iteration == 1:  # first case of each validation run
            k = case.frames.posts.shape[0] // 2
            panels = {} if case.strain is None else {"ground truth": case.strain[k]}
            panels["usse-net"] = maps["usse-net"][k]
            save_strain_panel(
                self.figure_dir / f"validation_epoch_{engine.state.epoch:04d}.png",
                case.frames.pre,
                panels,
                case.frames.acquisition.spacing_mm,
                title=f"{case.name}, post frame {k + 1}, after epoch {engine.state.epoch}",
            )
        engine.state.output = [{"rows": rows}]
        return engine.state.output

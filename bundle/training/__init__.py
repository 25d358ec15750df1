"""Training: data transforms, engines, epoch metrics and handlers that the MONAI configs wire together."""

from bundle.training.checkpoints import (
    BestModelSaver,
    EpochCheckpointSaver,
    checkpoint_epoch,
    checkpoint_file,
    latest_checkpoint,
)
from bundle.training.data import LoadRFSequence, LoadRFSequenced, datalist_split, first_item
from bundle.training.engines import ElastographyEvaluator, ElastographyTrainer
from bundle.training.metrics import FrameMetricMean, OutputMean
from bundle.training.site import dataset_splits, site_splits
from bundle.training.tracking import MLflowRunLogger, flatten_params, git_commit, run_name_for

__all__ = [
    "BestModelSaver",
    "ElastographyEvaluator",
    "ElastographyTrainer",
    "EpochCheckpointSaver",
    "FrameMetricMean",
    "LoadRFSequence",
    "LoadRFSequenced",
    "MLflowRunLogger",
    "OutputMean",
    "checkpoint_epoch",
    "checkpoint_file",
    "datalist_split",
    "dataset_splits",
    "first_item",
    "flatten_params",
    "git_commit",
    "latest_checkpoint",
    "run_name_for",
    "site_splits",
]

"""Training: data transforms, engines, epoch metrics and handlers that the MONAI configs wire together."""

from bundle.training.checkpoints import (
    BestModelSaver,
    EpochCheckpointSaver,
    checkpoint_epoch,
    checkpoint_file,
    latest_checkpoint,
)
from bundle.training.data import LoadRFSequence, LoadRFSequenced, first_item
from bundle.training.engines import ElastographyEvaluator, ElastographyTrainer
from bundle.training.metrics import FrameMetricMean, OutputMean
from bundle.training.policy import TrainingPolicy, ground_truth_policy
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
    "TrainingPolicy",
    "checkpoint_epoch",
    "checkpoint_file",
    "dataset_splits",
    "first_item",
    "flatten_params",
    "git_commit",
    "ground_truth_policy",
    "latest_checkpoint",
    "run_name_for",
    "site_splits",
]

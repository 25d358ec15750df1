"""Training: data transforms, engines, epoch metrics and handlers that the MONAI configs wire together."""

from bundle.training.checkpoints import latest_checkpoint
from bundle.training.data import LoadRFSequence, LoadRFSequenced, datalist_split, first_item
from bundle.training.engines import ElastographyEvaluator, ElastographyTrainer
from bundle.training.metrics import FrameMetricMean, OutputMean
from bundle.training.site import dataset_splits, site_splits
from bundle.training.tracking import MLflowArtifactsHandler

__all__ = [
    "ElastographyEvaluator",
    "ElastographyTrainer",
    "FrameMetricMean",
    "LoadRFSequence",
    "LoadRFSequenced",
    "MLflowArtifactsHandler",
    "OutputMean",
    "datalist_split",
    "dataset_splits",
    "first_item",
    "latest_checkpoint",
    "site_splits",
]

from __future__ import annotations

import pytest

from bundle.simulation import PhantomConfig
from bundle.simulation.dataset import DatasetSpec, write_dataset


@pytest.fixture(scope="session")
def tiny_datalist(tmp_path_factory):
    """Three simulated sequences of 768 x 80 (14.8 x 24 mm), two post frames each; one per split."""
    config = PhantomConfig(shape=(768, 80))
    spec = DatasetSpec(num_sequences=3, num_post_frames=2, lesion_probability=1.0, seed=3)
    return write_dataset(tmp_path_factory.mktemp("sim") / "data", spec, config, workers=1, progress=False)

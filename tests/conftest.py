"""Shared fixtures: a small acquisition and phantom so that tests stay fast."""

from __future__ import annotations

import pytest

from bundle.acquisition import Acquisition
from bundle.simulation import PhantomConfig


@pytest.fixture
def acquisition() -> Acquisition:
    return Acquisition(
        sampling_frequency_hz=40e6, center_frequency_hz=5e6, speed_of_sound_m_s=1540.0, line_pitch_mm=0.3
    )


@pytest.fixture
def small_phantom(acquisition) -> PhantomConfig:
    """512 x 48 samples x lines: 9.9 x 14.4 mm."""
    return PhantomConfig(shape=(512, 48), acquisition=acquisition, snr_db=30.0)

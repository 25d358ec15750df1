"""RF phantom simulator with exact ground truth (see docs/simulation.md)."""

from bundle.simulation.mechanics import Inclusion, axial_strain_field, displacement_mm
from bundle.simulation.phantom import PhantomConfig, SimulatedSequence, random_case, simulate_sequence
from bundle.simulation.rf import PSF, add_noise, render_rf

__all__ = [
    "PSF",
    "Inclusion",
    "PhantomConfig",
    "SimulatedSequence",
    "add_noise",
    "axial_strain_field",
    "displacement_mm",
    "random_case",
    "render_rf",
    "simulate_sequence",
]

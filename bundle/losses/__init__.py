"""Unsupervised elastography losses: local NCC similarity (RF and log envelope), displacement regularisers and
the consistency of a sequence across deformation levels.

Displacement is ``(B, 2, H, W)`` in pixels (axial samples, lateral lines), as the networks predict it.
"""

from bundle.losses.consistency import SequenceConsistencyLoss, composition_error, proportionality_residual
from bundle.losses.similarity import LocalNCCLoss, envelope, local_ncc, log_envelope
from bundle.losses.smoothness import displacement_curvature_loss, displacement_gradient_loss, strain_smoothness_loss
from bundle.losses.unsupervised import UnsupervisedElastographyLoss, in_frame_mask

__all__ = [
    "LocalNCCLoss",
    "SequenceConsistencyLoss",
    "UnsupervisedElastographyLoss",
    "composition_error",
    "displacement_curvature_loss",
    "displacement_gradient_loss",
    "envelope",
    "in_frame_mask",
    "local_ncc",
    "log_envelope",
    "proportionality_residual",
    "strain_smoothness_loss",
]

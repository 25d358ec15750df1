"""Networks: USSE-Net (stage one), the residual refiner (stage two), MUSSE-Net; displacement in pixels, axial first."""

from bundle.networks.cacff import CACFF
from bundle.networks.caf import CAFLevel, ConvGRU, LocalCrossAttention
from bundle.networks.layers import ConvBlock, lsq_strain, warp
from bundle.networks.musse_net import MUSSENet
from bundle.networks.refine import IterativeRefiner, ResidualRefiner, local_correlation
from bundle.networks.tca import TriCrossAttention
from bundle.networks.usse_net import USSENet

__all__ = [
    "CACFF",
    "CAFLevel",
    "ConvBlock",
    "ConvGRU",
    "LocalCrossAttention",
    "IterativeRefiner",
    "MUSSENet",
    "ResidualRefiner",
    "TriCrossAttention",
    "USSENet",
    "local_correlation",
    "lsq_strain",
    "warp",
]

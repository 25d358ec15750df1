"""USSE-Net: multi-stream encoder-decoder for displacement from pre- and post-compression RF.

Data flow for one post frame (shapes for an ``H x W`` input, default strides ``(2, 1), (2, 2), (2, 2)``)::

    prior = GlobalStrainPrior(pre, post): uniform compression + shift, post pre-warped by it (bundle.networks.prior)
    pre, post (B, 1, H, W) --siamese encoder--> features at H x W, H/2 x W, H/4 x W/2, H/8 x W/4
    each stage: CACFF(pre_l, post_l) -> fused_l                                    (bundle.networks.cacff)
    bottleneck: TCA(pre_3, post_3, fused_3) -> feature, coarse displacement          (bundle.networks.tca)
    decoder: CAF levels 2, 1, 0 refine the displacement, each with a ConvGRU state   (bundle.networks.caf)
    output: residual r composed with the prior, u(x) = r(x) + prior(x + r(x)), (B, 2, H, W) in pixels:
            channel 0 axial samples, channel 1 lateral lines

- Full axial resolution is kept where precision is decided: level 0 works on every RF sample.
- Capture range: the prior searches +-6 % strain and +-64 samples of shift; around it the TCA band
  (default +-4 bottleneck rows = +-32 samples = 0.6 mm at 40 MHz) plus +-``radius`` pixels per decoder level
  (default 2 rows x 1 column: +-(8 + 4 + 2) samples, +-(4 + 2 + 1) lines in total); receptive field of the
  encoder: about 90 samples x 40 lines at the bottleneck.
- ``forward(x)`` takes ``(B, 2, H, W)`` = (pre, post) and returns ``(B, 2, H, W)``: the one-tensor form MONAI's
  ``verify_net_in_out``/``ckpt_export`` need. ``forward_sequence(frames)`` takes ``(B, 1 + T, H, W)`` and
  returns ``(B, T, 2, H, W)``, carrying the decoder's recurrent state from one post frame to the next.
- RF of any amplitude scale: each sample is divided by the mean |RF| of its pre frame first. Frames of any
  size >= ``min_size`` work: they are padded (edge replication) to the stride multiple and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bundle.amplitude import scale_by_mean_abs
from bundle.networks.cacff import CACFF
from bundle.networks.caf import CAFLevel
from bundle.networks.layers import ConvBlock, lsq_strain, warp
from bundle.networks.prior import GlobalStrainPrior
from bundle.networks.tca import TriCrossAttention

__all__ = ["USSENet"]


class USSENet(nn.Module):
    """USSE-Net (stage one of MUSSE-Net).

    Args:
        channels: feature channels per level, finest first (one more entry than ``strides``).
        strides: (axial, lateral) downsampling between consecutive levels.
        attention_dim: query/key width of the attentions.
        band: TCA half band in bottleneck rows (capture range = band x total axial stride samples).
        radius: (axial, lateral) local-attention radius of each decoder level, in that level's pixels.
        strain_half_length: half length (samples) of the least-squares strain of :meth:`strain`.
        prior: pre-align each pair with :class:`GlobalStrainPrior` (uniform compression + shift) and estimate
            the residual; the output is the composition of both.
    """

    def __init__(
        self,
        channels: tuple[int, ...] = (8, 16, 32, 48),
        strides: tuple[tuple[int, int], ...] = ((2, 1), (2, 2), (2, 2)),
        attention_dim: int = 16,
        band: int = 4,
        radius: tuple[int, int] = (2, 1),
        strain_half_length: int = 32,
        prior: bool = True,
    ):
        super().__init__()
        if len(channels) != len(strides) + 1:
            raise ValueError(f"need one more channel entry than strides, got {channels} and {strides}")
        self.total_stride = [1, 1]
        for sz, sx in strides:
            self.total_stride = [self.total_stride[0] * int(sz), self.total_stride[1] * int(sx)]
        self.min_size = [4 * self.total_stride[0], 2 * self.total_stride[1]]
        # frames are padded to a multiple of this inside; the estimator pads before (bundle.networks.network_estimator)
        self.size_multiple = list(self.total_stride)
        self.strain_half_length = int(strain_half_length)
        self.encoder = nn.ModuleList([ConvBlock(1, channels[0], kernel=(7, 3))])
        for level, stride in enumerate(strides):
            self.encoder.append(ConvBlock(channels[level], channels[level + 1], stride=stride))
        self.fusion = nn.ModuleList([CACFF(c) for c in channels])
        self.bottleneck = TriCrossAttention(channels[-1], attention_dim, band)
        self.decoder = nn.ModuleList()
        for level in range(len(strides) - 1, -1, -1):
            self.decoder.append(CAFLevel(channels[level], channels[level + 1], strides[level], radius, attention_dim))
        self.state_channels = [channels[level] for level in range(len(strides) - 1, -1, -1)]
        self.use_prior = bool(prior)
        self.prior = GlobalStrainPrior()

    def _check(self, x: torch.Tensor, channels: int):
        if x.dim() != 4 or x.shape[1] != channels:
            raise ValueError(f"USSE-Net expects (B, {channels}, H, W) RF, got shape {list(x.shape)}")
        if x.shape[2] < self.min_size[0] or x.shape[3] < self.min_size[1]:
            raise ValueError(
                f"frames of {x.shape[2]} x {x.shape[3]} are smaller than the network's minimum "
                f"{self.min_size[0]} x {self.min_size[1]} (samples x lines)"
            )

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        ph = (self.total_stride[0] - h % self.total_stride[0]) % self.total_stride[0]
        pw = (self.total_stride[1] - w % self.total_stride[1]) % self.total_stride[1]
        if ph == 0 and pw == 0:
            return x
        return F.pad(x, [0, pw, 0, ph], mode="replicate")

    def encode(self, frame: torch.Tensor) -> list[torch.Tensor]:
        """Siamese features of one frame ``(B, 1, H, W)``, finest level first."""
        features: list[torch.Tensor] = []
        x = frame
        for block in self.encoder:
            x = block(x)
            features.append(x)
        return features

    def initial_state(self, pre_features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Zero recurrent state of each decoder level (coarsest first)."""
        states: list[torch.Tensor] = []
        n = len(pre_features)
        for i, c in enumerate(self.state_channels):
            f = pre_features[n - 2 - i]
            states.append(f.new_zeros((f.shape[0], c, f.shape[2], f.shape[3])))
        return states

    def decode(
        self, pre_features: list[torch.Tensor], post_features: list[torch.Tensor], states: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Displacement ``(B, 2, H_pad, W_pad)`` (pixels) of one post frame and the new recurrent states."""
        fused: list[torch.Tensor] = []
        for level, block in enumerate(self.fusion):
            fused.append(block(pre_features[level], post_features[level]))
        n = len(pre_features)
        decoder, displacement = self.bottleneck(pre_features[n - 1], post_features[n - 1], fused[n - 1])
        new_states: list[torch.Tensor] = []
        for i, level_block in enumerate(self.decoder):
            level = n - 2 - i
            decoder, displacement = level_block(
                decoder, displacement, pre_features[level], post_features[level], fused[level], states[i]
            )
            new_states.append(decoder)
        return displacement, new_states

    def forward(self, x: torch.Tensor, sequence: bool = False) -> torch.Tensor:
        """``(B, 2, H, W)`` (pre, post) RF -> ``(B, 2, H, W)`` displacement in pixels (axial, lateral).

        ``sequence=True``: :meth:`forward_sequence` (``(B, 1 + T, H, W)`` -> ``(B, T, 2, H, W)``) through the
        module's call, which is the only way in for DistributedDataParallel (it synchronises gradients only for
        what passes through ``forward``)."""
        if sequence:
            return self.forward_sequence(x)
        self._check(x, 2)
        h, w = x.shape[-2], x.shape[-1]
        x = self._pad(scale_by_mean_abs(x, x[:, :1], eps=1e-30))
        pre_features = self.encode(x[:, :1])
        displacement, _ = self.step(x[:, :1], x[:, 1:2], pre_features, self.initial_state(pre_features))
        return displacement[:, :, :h, :w]

    def step(
        self, pre: torch.Tensor, post: torch.Tensor, pre_features: list[torch.Tensor], states: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One post frame: displacement ``(B, 2, H, W)`` (pixels) and the decoder's new recurrent states.

        ``pre`` and ``post`` ``(B, 1, H, W)`` are normalised RF already padded to :attr:`size_multiple`;
        ``pre_features`` is :meth:`encode` of ``pre``; ``states`` the previous post frame's (or
        :meth:`initial_state`). The unit the ONNX export runs once per post frame (bundle.networks.onnx_export).
        """
        prior = self._prior(pre, post)
        residual, states = self.decode(pre_features, self.encode(warp(post, prior)), states)
        return self._compose(prior, residual), states

    def _prior(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        if not self.use_prior:
            return pre.new_zeros((pre.shape[0], 2, pre.shape[2], pre.shape[3]))
        return self.prior(torch.cat((pre, post), dim=1))

    @staticmethod
    def _compose(prior: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """Total displacement when the post frame was pre-warped by ``prior``: ``r(x) + prior(x + r(x))``."""
        return residual + warp(prior, residual)

    @torch.jit.export
    def forward_sequence(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, 1 + T, H, W)`` (pre, post_1..post_T) -> ``(B, T, 2, H, W)`` displacement in pixels.

        The pre frame is encoded once; the decoder state of post frame t initialises post frame t + 1.
        """
        if frames.dim() != 4 or frames.shape[1] < 2:
            raise ValueError(f"expected (B, 1 + T, H, W) frames with T >= 1, got shape {list(frames.shape)}")
        self._check(frames[:, :2], 2)
        h, w = frames.shape[-2], frames.shape[-1]
        frames = self._pad(scale_by_mean_abs(frames, frames[:, :1], eps=1e-30))
        pre_features = self.encode(frames[:, :1])
        states = self.initial_state(pre_features)
        outputs: list[torch.Tensor] = []
        for t in range(1, frames.shape[1]):
            displacement, states = self.step(frames[:, :1], frames[:, t : t + 1], pre_features, states)
            outputs.append(displacement[:, :, :h, :w])
        return torch.stack(outputs, dim=1)

    @torch.jit.export
    def strain(self, displacement_px: torch.Tensor) -> torch.Tensor:
        """Axial strain ``(B, 1, H, W)`` (fraction) of ``(B, 2, H, W)`` displacement, by least squares."""
        return lsq_strain(displacement_px[:, :1], self.strain_half_length)

"""How strain is shown: soft (high strain) red, hard blue, bar ends SOFT and HARD, one scale per case."""

from __future__ import annotations

import hashlib

import matplotlib.pyplot as plt
import numpy as np
import pydicom
import pytest

from bundle.acquisition import Acquisition
from bundle.export.case import CaseOutputs, write_case_outputs
from bundle.export.dicom import anonymous_identity
from bundle.pairs import FramePair

SPACING = (0.01925, 0.3)  # 128 x 48 samples: 2.5 x 14.4 mm
SHAPE = (128, 48)


@pytest.fixture
def pre_rf():
    return np.random.default_rng(1).standard_normal(SHAPE)


def _patched(background: float, patch: float) -> np.ndarray:
    """Uniform ``background`` strain with ``patch`` in the middle third (rows 43:85, lines 16:32)."""
    strain = np.full(SHAPE, background, dtype=np.float32)
    strain[43:85, 16:32] = patch
    return strain


PATCH_MM = (64 * SPACING[0], 24 * SPACING[1])  # (depth, lateral) of the patch centre
BACKGROUND_MM = (20 * SPACING[0], 6 * SPACING[1])


def _pixel(fig, depth_mm: float, lateral_mm: float) -> tuple[int, int]:
    """(row, column) of the rendered image at a point of the strain map (the first axes holds the map)."""
    fig.canvas.draw()
    x, y = fig.axes[0].transData.transform((lateral_mm, depth_mm))
    return int(round(fig.canvas.get_width_height()[1] - y)), int(round(x))


def _bar_labels(colorbar_axes) -> dict[str, float]:
    """Text of the colour bar's axes -> its height in axes fraction (0 bottom, 1 top)."""
    return {t.get_text(): t.get_position()[1] for t in colorbar_axes.texts}


def test_soft_is_red_hard_is_blue_in_the_overlay(pre_rf):
    """A stiff lesion (-0.3 %) in soft tissue (-1.5 %): background red-dominant, lesion blue-dominant."""
    from bundle.export.overlay import overlay_figure, render_strain_overlay

    strain = _patched(-0.015, -0.003)
    rgb = render_strain_overlay(pre_rf, strain, SPACING).astype(int)
    fig = overlay_figure(pre_rf, strain, SPACING)
    assert rgb.shape[:2] == fig.canvas.get_width_height()[::-1]
    r, g, b = rgb[_pixel(fig, *BACKGROUND_MM)]
    assert r > b + 50, (r, g, b)  # soft: red
    r, g, b = rgb[_pixel(fig, *PATCH_MM)]
    assert b > r + 50, (r, g, b)  # hard: blue
    # the same with the roles swapped: a soft lesion in stiffer tissue is red
    rgb = render_strain_overlay(pre_rf, _patched(-0.003, -0.015), SPACING).astype(int)
    r, g, b = rgb[_pixel(fig, *PATCH_MM)]
    assert r > b + 50, (r, g, b)
    plt.close(fig)


def test_colour_bars_are_labelled_soft_and_hard(pre_rf):
    from bundle.export.overlay import overlay_figure
    from bundle.plotting import strain_panel_figure

    strain = _patched(-0.015, -0.003)
    overlay = overlay_figure(pre_rf, strain, SPACING)
    panel = strain_panel_figure(pre_rf, {"pair 1": strain, "pair 2": strain}, SPACING)
    for bar in (overlay.axes[-1], panel.axes[-1]):  # the colour bar is the figure's last axes
        labels = _bar_labels(bar)
        assert labels["SOFT"] > 0.9 and labels["HARD"] < 0.1  # SOFT at the high-strain end (top)
        assert "(%)" in bar.get_ylabel()
    # the bar's top colour is red, its bottom blue
    mappable = overlay.axes[0].get_images()[-1]
    top, bottom = mappable.cmap(1.0), mappable.cmap(0.0)
    assert top[0] > top[2] and bottom[2] > bottom[0]
    plt.close(overlay)
    plt.close(panel)


def test_displayed_value_is_the_strain_magnitude():
    """Compression (negative) and release (positive) pairs both show how much the tissue strained, in %."""
    from bundle.display import displayed_strain

    compression = _patched(-0.01, -0.02)
    shown = displayed_strain(compression)
    assert shown[0, 0] == pytest.approx(1.0) and shown[64, 24] == pytest.approx(2.0)
    release = -compression
    np.testing.assert_allclose(displayed_strain(release), shown)
    noisy = compression.copy()
    noisy[0, 0] = 0.001  # opposite sign to the pair's compression: no compressive strain, shown as 0 (hard)
    assert displayed_strain(noisy)[0, 0] == 0.0
    with pytest.raises(ValueError):
        displayed_strain(np.zeros(5))


def test_one_scale_for_every_pair_of_a_case(pre_rf, tmp_path):
    """Two pairs at 1 % and 3 % with a 2 % patch: one range (1-3 %) for both, and the patch has the same colour
    in both overlays (per-pair percentiles made it red in one and blue in the other)."""
    from bundle.display import strain_display_range
    from bundle.export.overlay import overlay_figure
    from bundle.plotting import strain_panel_figure

    strain = np.stack([_patched(-0.01, -0.02), _patched(-0.03, -0.02)])
    low, high = strain_display_range(strain)
    assert (low, high) == pytest.approx((1.0, 3.0))
    assert strain_display_range(list(strain)) == (low, high)
    panel = strain_panel_figure(pre_rf, {"a": strain[0], "b": strain[1]}, SPACING)
    assert [ax.get_images()[0].get_clim() for ax in panel.axes[1:3]] == [pytest.approx((low, high))] * 2
    plt.close(panel)

    acquisition = Acquisition(40e6, 5e6, 1540.0, SPACING[1])
    pairs = [FramePair(0, 1), FramePair(0, 2)]
    displacement = np.zeros((2, 2, *SHAPE), dtype=np.float32)
    identity = anonymous_identity(hashlib.sha256(b"rf").hexdigest())
    write_case_outputs(tmp_path, "case", np.stack([pre_rf, pre_rf]), pairs, displacement, strain, acquisition,
                       CaseOutputs(png=True, dicom=True), identity)  # fmt: skip
    rgb = [pydicom.dcmread(tmp_path / "dicom" / f"overlay_sc_{k}.dcm").pixel_array.astype(int) for k in (0, 1)]
    fig = overlay_figure(pre_rf, strain[0], SPACING, display_range=(low, high), title="pair 1, frames 0->1")
    patch, background = _pixel(fig, *PATCH_MM), _pixel(fig, *BACKGROUND_MM)
    plt.close(fig)
    np.testing.assert_array_equal(rgb[0][patch], rgb[1][patch])
    (r0, _, b0), (r1, _, b1) = rgb[0][background], rgb[1][background]
    assert b0 > r0 + 50 and r1 > b1 + 50  # 1 % is the case's hard end, 3 % its soft end

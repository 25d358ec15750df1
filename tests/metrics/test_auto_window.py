"""The automatic SNRe window avoids regions whose B-mode brightness differs (lesion, layer)."""

import numpy as np

from bundle.metrics.auto_window import most_homogeneous_window


def test_window_avoids_a_bright_region():
    rng = np.random.default_rng(0)
    h, w, dz, dx = 1024, 96, 0.02, 0.3  # 20.5 x 28.8 mm
    rf = rng.standard_normal((h, w))
    # a hyperechoic band on the left and a bright disc on the right: both change the mean brightness
    rf[:, :30] *= np.linspace(1, 6, h)[:, None]
    z, x = np.mgrid[0:h, 0:w]
    rf[((z * dz - 10) ** 2 + (x * dx - 22) ** 2) < 9] *= 4
    zc, xc = most_homogeneous_window(rf, (dz, dx), (5.0, 5.0), (2.0, 18.0), (0.6, 28.0))
    assert 2.0 + 2.5 <= zc <= 18.0 - 2.5 and 0.6 + 2.5 <= xc <= 28.0 - 2.5  # inside the allowed range
    assert xc > 30 * dx + 2.5  # right of the band
    assert np.hypot(zc - 10, xc - 22) > 3 + 2.5 * np.sqrt(2) - 0.5  # clear of the disc

"""Known answers of SNR, CNR, CNRe and the dB helper."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bundle.errors import ElastographyInputError
from bundle.metrics import cnr, cnr_e, region_values, snr, to_db


def test_snr_of_constant_field_is_nan():
    # zero std: no noise to measure against, so the figure is undefined (NaN), not inf
    assert math.isnan(snr(np.full(100, 0.01)))


def test_snr_known_mean_and_std():
    values = np.tile([1.0, 3.0], 50)  # mean 2, population std 1
    assert snr(values) == pytest.approx(2.0, rel=1e-12)
    # magnitude: compression (negative strain) gives the same figure
    assert snr(-values) == pytest.approx(2.0, rel=1e-12)


def test_snr_with_mask_and_empty_region():
    field = np.zeros((4, 4))
    mask = np.zeros((4, 4), dtype=bool)
    field[0, :] = [1.0, 3.0, 1.0, 3.0]
    mask[0, :] = True
    assert snr(field, mask) == pytest.approx(2.0)
    assert math.isnan(snr(field, np.zeros((4, 4), dtype=bool)))
    assert math.isnan(snr(np.array([])))
    assert math.isnan(snr(np.array([1.0, np.nan, 3.0])))


def test_region_values_rejects_bad_mask():
    with pytest.raises(ElastographyInputError):
        region_values(np.zeros((3, 3)), np.zeros((3, 4), dtype=bool))
    with pytest.raises(ElastographyInputError):
        region_values(np.zeros((3, 3)), np.zeros((3, 3), dtype=int))


def test_cnr_hand_calculation():
    target = np.tile([1.0, 3.0], 20)  # m_t 2, s_t 1
    background = np.tile([5.0, 9.0], 30)  # m_b 7, s_b 2
    expected_e = 2.0 * (7.0 - 2.0) ** 2 / (2.0**2 + 1.0**2)  # 10
    assert cnr_e(target, background) == pytest.approx(expected_e, rel=1e-12)
    assert cnr(target, background) == pytest.approx(math.sqrt(expected_e), rel=1e-12)
    assert cnr_e(target, background) == pytest.approx(cnr(target, background) ** 2, rel=1e-12)


def test_cnr_undefined_cases():
    assert math.isnan(cnr(np.array([]), np.ones(5)))
    assert math.isnan(cnr_e(np.ones(5), np.full(5, 2.0)))  # both stds zero


def test_to_db():
    assert to_db(10.0) == pytest.approx(20.0)
    assert to_db(10.0, power=True) == pytest.approx(10.0)
    c, ce = math.sqrt(10.0), 10.0
    assert to_db(c) == pytest.approx(to_db(ce, power=True))
    assert to_db(0.0) == -math.inf
    assert math.isnan(to_db(math.nan))
    assert math.isnan(to_db(-1.0))

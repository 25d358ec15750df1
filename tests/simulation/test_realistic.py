"""The realistic simulator: drawn acquisitions in range, ground truth that is the motion, determinism across
workers, sidecars that record every draw, and data the toolkit reads and scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bundle.io import read_rf
from bundle.metrics.warp import ncc, warp_post
from bundle.simulation.dataset import DatasetSpec, write_dataset
from bundle.simulation.realistic import RealisticSpec, draw_acquisition, simulate_realistic

#: small frames for speed: 15-20 mm deep, at most 60k pixels, a coarse FEM
SMALL = dict(depth_mm=(15.0, 20.0), lines=(64, 96), max_pixels=60_000, max_scatterers=40_000, fem_elements=800)


def test_drawn_acquisitions_stay_in_their_ranges():
    spec = RealisticSpec()
    rng = np.random.default_rng(0)
    spp, widths = [], []
    for _ in range(300):
        acq, (h, w), rec = draw_acquisition(rng, spec)
        assert 3e6 <= acq.center_frequency_hz <= 12e6 and 0.4 <= acq.fractional_bandwidth <= 1.0
        assert 0.1 <= acq.line_pitch_mm <= 0.4 and 64 <= rec["drawn_lines"] <= 384
        assert 15.0 <= rec["drawn_depth_mm"] <= 60.0 and rec["depth_mm"] <= rec["drawn_depth_mm"] + acq.axial_spacing_mm
        assert h * w <= spec.max_pixels and w * acq.line_pitch_mm <= spec.max_width_mm
        spp.append(acq.sampling_frequency_hz / acq.center_frequency_hz)
        widths.append(w)
    assert 4.0 <= min(spp) and max(spp) <= 12.0 and min(spp) < 4.2 and max(spp) > 11.8
    assert not np.allclose(spp, np.round(spp))  # not only integers
    assert min(widths) >= 64


def test_ground_truth_is_the_motion_of_the_speckle():
    """Noise-free, no decorrelation: the post frame warped by the truth matches the pre frame, unwarped it does not."""
    spec = RealisticSpec(**SMALL, snr_db=(120.0, 120.0), decorrelation=(0.0, 0.0), strain_range=(0.01, 0.03))
    seq = simulate_realistic(spec, 2, seed=3)
    h, w = seq.rf.shape[1:]
    inner = (slice(h // 10, 9 * h // 10), slice(w // 10, 9 * w // 10))
    for k in range(2):
        warped = warp_post(seq.rf[k + 1], seq.displacement_mm[k], seq.acquisition.spacing_mm)
        assert ncc(warped[inner], seq.rf[0][inner]) > 0.95
        assert ncc(seq.rf[k + 1][inner], seq.rf[0][inner]) < 0.8
    # strain is the axial derivative of the axial displacement, and the levels increase
    np.testing.assert_allclose(
        seq.strain[0], np.gradient(seq.displacement_mm[0, 0], seq.acquisition.axial_spacing_mm, axis=0), atol=1e-5
    )  # the truth is float32: the gradient of the stored displacement differs by its round-off
    assert seq.applied_strains[0] <= seq.applied_strains[1]


def test_same_seed_same_sequence_and_draws_recorded():
    spec = RealisticSpec(**SMALL)
    a, b = simulate_realistic(spec, 1, seed=11), simulate_realistic(spec, 1, seed=11)
    assert np.array_equal(a.rf, b.rf) and np.array_equal(a.strain, b.strain)
    assert a.parameters == b.parameters
    for key in ("acquisition", "pulse", "beam", "attenuation_db_cm_mhz", "snr_db", "tissue", "echogenicity", "motion"):
        assert key in a.parameters
    json.dumps(a.parameters)  # serialisable


def test_realistic_dataset_is_worker_independent_readable_and_scored(tmp_path):
    spec = DatasetSpec(num_sequences=3, num_post_frames=1, seed=4, mode="realistic", split=(1 / 3, 1 / 3, 1 / 3))
    small = RealisticSpec(**SMALL)
    one = write_dataset(tmp_path / "one", spec, workers=1, progress=False, realistic=small)
    two = write_dataset(tmp_path / "two", spec, workers=2, progress=False, realistic=small)
    sampling = set()
    for i in range(3):
        name = f"case_{i:04d}_rf.nii"
        assert (one.parent / name).read_bytes() == (two.parent / name).read_bytes()
        frames = read_rf(one.parent / name)
        sidecar = json.loads((one.parent / f"case_{i:04d}_rf.json").read_text())
        assert frames.acquisition.sampling_frequency_hz == sidecar["acquisition"]["sampling_frequency_hz"]
        assert sidecar["simulation"]["mode"] == "realistic" and "motion" in sidecar["simulation"]["parameters"]
        sampling.add(frames.acquisition.sampling_frequency_hz)
    assert len(sampling) == 3  # each case has its own acquisition
    data = json.loads(one.read_text())
    assert data["mode"] == "realistic" and data["acquisition"] is None

    # the sidecar is enough to re-make its case
    sim = json.loads((one.parent / "case_0002_rf.json").read_text())["simulation"]
    seed = np.random.SeedSequence(int(sim["seed_entropy"]), spawn_key=tuple(sim["spawn_key"]))
    again = simulate_realistic(RealisticSpec(**sim["spec"]), sim["num_post_frames"], seed)
    assert np.array_equal(again.rf, read_rf(one.parent / "case_0002_rf.nii").frames)

    from bundle.evaluation.runner import evaluate_datalist

    result = evaluate_datalist(one, ["ncc"], split="all", figures=False, progress=False)
    assert len(result.rows) == 3 and all(np.isfinite(r["strain_nrmse"]) for r in result.rows)


def test_bad_mode_and_ranges_are_refused():
    from bundle.errors import ElastographyInputError

    with pytest.raises(ElastographyInputError, match="mode"):
        DatasetSpec(mode="fancy")
    with pytest.raises(ValueError, match="range"):
        RealisticSpec(depth_mm=(60.0, 15.0))


def test_drawn_snr_holds_at_mid_depth_and_falls_below():
    """Noise is added before the TGC: 20 dB at rows 40-60 % of the depth, more above, less below."""
    quiet = simulate_realistic(RealisticSpec(**SMALL, snr_db=(200.0, 200.0), attenuation_db_cm_mhz=(1.0, 1.0)), 1, 8)
    noisy = simulate_realistic(RealisticSpec(**SMALL, snr_db=(20.0, 20.0), attenuation_db_cm_mhz=(1.0, 1.0)), 1, 8)
    signal, noise = quiet.rf[0].astype(np.float64), (noisy.rf[0] - quiet.rf[0]).astype(np.float64)
    h = signal.shape[0]

    def snr_db(lo, hi):
        rows = slice(int(lo * h), int(hi * h))
        return 20 * np.log10(np.sqrt(np.mean(signal[rows] ** 2) / np.mean(noise[rows] ** 2)))

    assert snr_db(0.4, 0.6) == pytest.approx(20.0, abs=1.0)
    assert snr_db(0.05, 0.2) > snr_db(0.4, 0.6) > snr_db(0.8, 0.95)


def _moments(f, power):
    centroid = (f * power).sum() / power.sum()
    return centroid, np.sqrt(((f - centroid) ** 2 * power).sum() / power.sum())


@pytest.mark.parametrize("seed", range(6))
def test_rf_spectrum_is_the_drawn_pulse(seed):
    """Without attenuation, the RF's power spectrum (Welch, all lines) has the drawn pulse's centroid (within 3 %;
    measured within 1.9 % over 12 seeds) and RMS width (within 10 %; measured within 7.2 %)."""
    from scipy.signal import welch

    from bundle.simulation.probe import band_limited, tapered_ends
    from bundle.simulation.pulse import make_pulse

    spec = RealisticSpec(**SMALL, attenuation_db_cm_mhz=(0.0, 0.0), snr_db=(60.0, 60.0))
    seq = simulate_realistic(spec, 1, seed)
    pulse, acq = seq.parameters["pulse"], seq.acquisition
    fs = acq.sampling_frequency_hz
    f, power = welch(seq.rf[0].astype(np.float64), fs=fs, nperseg=256, nfft=4096, axis=0)
    centroid, width = _moments(f, power.mean(axis=1))
    fine_fs = 64 * fs
    fine = make_pulse(pulse["shape"], acq.center_frequency_hz, acq.fractional_bandwidth, fine_fs, skew=pulse["skew"])
    fine = tapered_ends(band_limited(fine, fine_fs, fs))
    ref_centroid, ref_width = _moments(np.fft.rfftfreq(1 << 18, 1 / fine_fs), np.abs(np.fft.rfft(fine, 1 << 18)) ** 2)
    assert centroid == pytest.approx(ref_centroid, rel=0.03)
    assert width == pytest.approx(ref_width, rel=0.10)


def test_homogeneous_block_compresses_uniformly_in_the_window():
    """No inclusion, no layer, no rigid motion: the truth is the plane-strain uniaxial compression of the block, so
    the FEM's edges stay out of view: strain -s to 1e-4 relative (also at the probe surface), lateral strain
    nu / (1 - nu) s to 1e-3."""
    spec = RealisticSpec(
        **SMALL,
        num_inclusions=(0, 0),
        num_layers=(0, 0),
        slip_step_mm=(0.0, 0.0),
        rotation_step_deg=(0.0, 0.0),
        strain_range=(0.02, 0.02),
    )
    seq = simulate_realistic(spec, 1, seed=2)
    s = seq.applied_strains[0]
    np.testing.assert_allclose(seq.strain[0], -s, rtol=1e-4)
    # lateral: the plane-strain expansion nu / (1 - nu) s about the FEM's pinned surface node, which sits within
    # half an element of the image centre (a rigid offset that the scatterers share)
    nu = seq.parameters["tissue"]["poisson_ratio"]
    ux = seq.displacement_mm[0, 1].astype(np.float64)
    slope = np.gradient(ux, seq.acquisition.line_pitch_mm, axis=1)
    np.testing.assert_allclose(slope, nu / (1 - nu) * s, rtol=1e-3)
    centre = ux[:, (ux.shape[1] - 1) // 2].mean()
    assert abs(centre) < 0.5 * seq.parameters["fem"]["element_mm"] * s + seq.acquisition.line_pitch_mm * s

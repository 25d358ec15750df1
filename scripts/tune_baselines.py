"""Score the classical estimators (ncc, dp, glue) on our own simulator at probes that span what scanners produce.

Each acquisition gets one phantom (a stiff or a soft circular inclusion) compressed by 1 % and 2 %, rendered by
:mod:`bundle.simulation` (separable Gaussian PSF), and, for the rows marked "DAS-like", the same phantom given a
plane-wave delay-and-sum point-spread function: the broadband render is filtered in k-space to the support that a
0-degree plane-wave transmit and a receive aperture of f-number F reach (``Kz = k (1 + cos t)``,
``Kx = k sin t``, ``|tan t| <= 1 / 2F``, Hann apodisation, Gaussian pulse spectrum), then sampled at the line
pitch. At F 0.7 the RF changes phase from line to line as on wide-aperture scanners. None of this is the foreign
(PyMUST) validation set, which is never used to tune.

Strain NRMSE is :func:`bundle.metrics.accuracy.strain_nrmse` over the valid region of
:func:`bundle.metrics.regions.phantom_regions` (the frame less 2 mm top and bottom and 2 lines each side).

    .venv/bin/python scripts/tune_baselines.py                       # all acquisitions, markdown table
    .venv/bin/python scripts/tune_baselines.py --timing              # seconds per 1400 x 128 pair
    .venv/bin/python scripts/tune_baselines.py --acquisitions 7.6-das0.7 --estimators glue \\
        --kwargs '{"glue": {"weights": [5, 50, 0.02, 1], "dp": {"window_lateral_mm": 0.1}}}'
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bundle.acquisition import Acquisition  # noqa: E402
from bundle.baselines import DPEstimator  # noqa: E402
from bundle.catalogue import create_estimator  # noqa: E402
from bundle.metrics.accuracy import strain_nrmse  # noqa: E402
from bundle.metrics.regions import phantom_regions  # noqa: E402
from bundle.simulation import Inclusion, PhantomConfig, simulate_sequence  # noqa: E402

STRAINS = (0.01, 0.02)


@dataclass(frozen=True)
class Probe:
    """One acquisition of the tuning set and its phantom."""

    name: str
    f0_mhz: float
    fs_mhz: float
    pitch_mm: float
    bandwidth: float
    lateral_fwhm_mm: float  # Gaussian PSF; ignored for DAS-like rows
    depth_mm: float
    width_mm: float
    inclusion: Inclusion
    fnumber: float | None = None  # receive f-number of a DAS-like row, None for the Gaussian PSF

    def acquisition(self) -> Acquisition:
        return Acquisition(
            sampling_frequency_hz=self.fs_mhz * 1e6,
            center_frequency_hz=self.f0_mhz * 1e6,
            line_pitch_mm=self.pitch_mm,
            fractional_bandwidth=self.bandwidth,
        )


def _stiff(depth, width, radius):
    return Inclusion((0.5 * depth, 0.4 * width), radius, 3.0)


def _soft(depth, width, radius):
    return Inclusion((0.55 * depth, 0.6 * width), radius, 1.0 / 3.0)


PROBES = [
    Probe("7.6-5spp", 7.6, 38.0, 0.21, 0.77, 0.55, 20.0, 20.0, _stiff(20, 20, 4.0)),
    Probe("7.6-das1.5", 7.6, 38.0, 0.21, 0.77, 0.0, 20.0, 20.0, _soft(20, 20, 2.5), fnumber=1.5),
    Probe("7.6-das0.7", 7.6, 38.0, 0.21, 0.77, 0.0, 20.0, 20.0, _stiff(20, 20, 3.0), fnumber=0.7),
    Probe("7.2-4.4spp", 7.2, 32.0, 0.30, 0.70, 0.70, 20.0, 24.0, _soft(20, 24, 3.0)),
    Probe("3-4spp", 3.0, 12.0, 0.30, 0.65, 1.40, 30.0, 30.0, _stiff(30, 30, 6.0)),
    Probe("3-6.7spp", 3.0, 20.0, 0.25, 0.60, 1.20, 30.0, 25.0, _soft(30, 25, 5.0)),
    Probe("5-8spp", 5.0, 40.0, 0.30, 0.70, 0.90, 24.0, 24.0, _stiff(24, 24, 4.5)),
    Probe("12-4spp", 12.0, 48.0, 0.20, 0.70, 0.35, 16.0, 16.0, _soft(16, 16, 2.0)),
    Probe("12-12spp", 12.0, 144.0, 0.20, 0.70, 0.35, 16.0, 16.0, _stiff(16, 16, 3.0)),
]


def _das_filter(shape, dz_mm, dx_mm, f0_hz, bandwidth, fnumber, render_bandwidth, render_fwhm_mm):
    """k-space transfer function ``(H, W // 2 + 1)`` for ``rfft2`` over (lateral, depth) of a padded frame."""
    c = 1540e3  # mm/s
    nz, nx = shape
    kz = np.fft.rfftfreq(nz, dz_mm)[:, None]  # cycles per mm of depth
    kx = np.fft.fftfreq(nx, dx_mm)[None, :]
    theta = 2.0 * np.arctan2(kx, np.maximum(kz, 1e-9))  # receive angle: Kx / Kz = tan(t / 2)
    sin_t = np.sin(theta)
    k = np.where(np.abs(sin_t) > 1e-6, kx / np.where(np.abs(sin_t) > 1e-6, sin_t, 1.0), kz / 2.0)
    f = k * c
    spectrum = np.exp(-0.5 * ((f - f0_hz) / (bandwidth * f0_hz / 2.3548)) ** 2)
    t_max = math.atan(1.0 / (2.0 * fnumber))
    apod = np.where(np.abs(theta) <= t_max, 0.5 + 0.5 * np.cos(np.pi * theta / t_max), 0.0)
    # divide out the render's own (Gaussian) spectra so that the result has the DAS support alone
    sig_r = render_bandwidth * f0_hz / 2.3548
    f_axial = kz * c / 2.0
    render_lateral = np.exp(-0.5 * (2 * np.pi * render_fwhm_mm / 2.3548 * kx) ** 2)
    render = np.exp(-0.5 * ((f_axial - f0_hz) / sig_r) ** 2) * render_lateral
    return spectrum * apod / np.maximum(render, 1e-3)


def make_case(probe: Probe, seed: int, snr_db: float = 30.0):
    """A simulated sequence (pre + 1 % + 2 %) at ``probe``: ``rf (3, H, W)``, ``strain (2, H, W)``, acquisition."""
    acq = probe.acquisition()
    if probe.fnumber is None:
        shape = (int(round(probe.depth_mm / acq.axial_spacing_mm)), int(round(probe.width_mm / probe.pitch_mm)))
        config = PhantomConfig(shape=shape, acquisition=acq, lateral_fwhm_mm=probe.lateral_fwhm_mm, snr_db=snr_db)
        return simulate_sequence(config, probe.inclusion, STRAINS, seed=seed)
    # DAS-like: broadband render at 2 fs and a third of the pitch, k-space filter, then decimate
    sub, render_b = 3, 1.2
    fine = Acquisition(
        sampling_frequency_hz=2 * acq.sampling_frequency_hz,
        center_frequency_hz=acq.center_frequency_hz,
        line_pitch_mm=probe.pitch_mm / sub,
        fractional_bandwidth=render_b,
    )
    h = 2 * int(round(probe.depth_mm / acq.axial_spacing_mm))
    w = sub * int(round(probe.width_mm / probe.pitch_mm))
    fwhm = 0.6 * probe.pitch_mm
    # 3 scatterers per cell of the fine render are > 10 per cell of the final, wider PSF: fully developed speckle
    config = PhantomConfig(shape=(h, w), acquisition=fine, lateral_fwhm_mm=fwhm, snr_db=math.inf, scatterers_per_cell=3)
    seq = simulate_sequence(config, probe.inclusion, STRAINS, seed=seed)
    pad = (h + 256, w + 64)
    transfer = _das_filter(pad, fine.axial_spacing_mm, fine.line_pitch_mm, acq.center_frequency_hz,
                           probe.bandwidth, probe.fnumber, render_b, fwhm)  # fmt: skip
    frames = []
    for frame in seq.rf:
        padded = np.zeros(pad)
        padded[:h, :w] = frame
        out = np.fft.irfft2(np.fft.rfft2(padded, axes=(1, 0)) * transfer, s=(pad[1], pad[0]), axes=(1, 0))
        frames.append(out[:h:2, :w:sub])
    rf = np.stack(frames)
    rng = np.random.default_rng(seed + 1000)
    rf += rng.standard_normal(rf.shape) * float(np.sqrt(np.mean(rf[0] ** 2))) * 10 ** (-snr_db / 20)
    out = copy.copy(seq)
    out.rf = rf.astype(np.float32)
    out.displacement_mm = seq.displacement_mm[:, :, ::2, ::sub]
    out.strain = seq.strain[:, ::2, ::sub]
    out.acquisition = acq
    return out


def crop_top(seq, depth_mm: float):
    """The sequence without its first ``depth_mm`` of every frame (RF and ground truth alike)."""
    rows = int(round(depth_mm / seq.acquisition.axial_spacing_mm))
    if not 0 <= rows < seq.rf.shape[1] // 2:
        raise ValueError(f"cannot crop {depth_mm} mm from a {seq.rf.shape[1]}-row frame")
    out = copy.copy(seq)
    out.rf = np.ascontiguousarray(seq.rf[:, rows:])
    out.displacement_mm = np.ascontiguousarray(seq.displacement_mm[:, :, rows:])
    out.strain = np.ascontiguousarray(seq.strain[:, rows:])
    return out


def score(estimator, seq) -> tuple[list[float], float]:
    """Strain NRMSE of each post frame (valid region) and seconds per pair."""
    valid = phantom_regions(seq.rf.shape[1:], seq.acquisition.spacing_mm, None).valid
    t0 = time.perf_counter()
    displacement = estimator.estimate(seq.rf[0], seq.rf[1:], seq.acquisition)
    seconds = (time.perf_counter() - t0) / displacement.shape[0]
    strain = estimator.strain(displacement, seq.acquisition)
    return [strain_nrmse(strain[k], seq.strain[k], valid) for k in range(strain.shape[0])], seconds


def timing(names, kwargs, repeats: int = 2) -> dict[str, float]:
    """Seconds per pair (best of ``repeats``) on a 1400 x 128 pair at 7.6 MHz / 38 MHz / 0.21 mm (issue 13's size)."""
    acq = Acquisition(
        sampling_frequency_hz=38e6, center_frequency_hz=7.6e6, line_pitch_mm=0.21, fractional_bandwidth=0.77
    )
    config = PhantomConfig(shape=(1400, 128), acquisition=acq, lateral_fwhm_mm=0.55)
    seq = simulate_sequence(config, Inclusion((14.0, 13.0), 4.0, 3.0), (0.02,), seed=5)
    out = {}
    for n in names:
        est = create_estimator(n, **_seeded(kwargs.get(n, {})))
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            est.estimate(seq.rf[0], seq.rf[1:], acq)
            runs.append(time.perf_counter() - t0)
        out[n] = min(runs)
    return out


def _seeded(kwargs: dict) -> dict:
    """GLUE's ``"dp"`` may be given as the DP's keyword arguments (JSON cannot hold an estimator)."""
    if isinstance(kwargs.get("dp"), dict):
        kwargs = {**kwargs, "dp": DPEstimator(**kwargs["dp"])}
    return kwargs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--acquisitions", default=",".join(pr.name for pr in PROBES), help="comma-separated names")
    p.add_argument("--estimators", default="ncc,dp,glue")
    p.add_argument("--kwargs", default="{}", help='JSON: {"glue": {"weights": [5, 50, 0.02, 1], "dp": {...}}}')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snr-db", type=float, default=30.0, help="electronic noise of every frame (dB)")
    p.add_argument(
        "--depth-gain-db", type=float, default=0.0, help="amplitude ramp over the frame's depth (no TGC: e.g. -30)"
    )
    p.add_argument(
        "--crop-top-mm",
        type=float,
        default=0.0,
        help="drop this depth from the top of every frame: the image then starts below the probe, and its first "
        "row already moves by strain x depth (at 2 %% and 5 mm, 0.1 mm: one RF period at 7.6 MHz)",
    )
    p.add_argument("--json", type=Path, help="also write the numbers here")
    p.add_argument("--timing", action="store_true", help="only time each estimator on one 1400 x 128 pair")
    a = p.parse_args(argv)
    by_name = {pr.name: pr for pr in PROBES}
    unknown = [n for n in a.acquisitions.split(",") if n not in by_name]
    if unknown:
        p.error(f"unknown acquisitions {unknown}; known: {', '.join(by_name)}")
    kwargs = json.loads(a.kwargs)
    names = a.estimators.split(",")
    if a.timing:
        for n, seconds in timing(names, kwargs).items():
            print(f"{n}: {seconds:.2f} s per 1400 x 128 pair (7.6 MHz, 38 MHz, 0.21 mm; best of 2)", flush=True)
        return 0
    estimators = {n: create_estimator(n, **_seeded(kwargs.get(n, {}))) for n in names}
    results = {}
    print("| acquisition | frame | " + " | ".join(f"{n} NRMSE (1 %, 2 %)" for n in names) + " | " + " | ".join(
        f"{n} s/pair" for n in names) + " |", flush=True)  # fmt: skip
    print("|---" * (2 + 2 * len(names)) + "|", flush=True)
    for name in a.acquisitions.split(","):
        probe = by_name[name]
        # the seed follows the acquisition, not its place in --acquisitions: a subset gives the same phantoms
        seq = make_case(probe, seed=a.seed * 100 + PROBES.index(probe), snr_db=a.snr_db)
        if a.depth_gain_db:  # a gain fixed to depth, not to tissue: the same for pre and post
            ramp = 10 ** (a.depth_gain_db / 20 * np.linspace(0.0, 1.0, seq.rf.shape[1]))
            seq.rf = (seq.rf * ramp[None, :, None]).astype(np.float32)
        if a.crop_top_mm:
            seq = crop_top(seq, a.crop_top_mm)
        row = {}
        for n, est in estimators.items():
            values, seconds = score(est, seq)
            row[n] = {"nrmse": values, "mean": float(np.mean(values)), "seconds_per_pair": seconds}
        results[name] = row
        shape = "x".join(str(s) for s in seq.rf.shape[1:])
        cells = [f"{row[n]['mean']:.3f} ({row[n]['nrmse'][0]:.3f}, {row[n]['nrmse'][1]:.3f})" for n in names]
        times = [f"{row[n]['seconds_per_pair']:.1f}" for n in names]
        print(f"| {name} | {shape} | " + " | ".join(cells) + " | " + " | ".join(times) + " |", flush=True)
    means = {n: float(np.mean([results[r][n]["mean"] for r in results])) for n in names}
    print("mean over acquisitions: " + ", ".join(f"{n} {v:.3f}" for n, v in means.items()), flush=True)
    if a.json:
        a.json.write_text(json.dumps({"results": results, "means": means, "kwargs": kwargs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

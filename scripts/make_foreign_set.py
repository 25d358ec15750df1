#!/usr/bin/env python
"""Build the independent validation set: PyMUST (SIMUS + delay-and-sum) RF of 8 phantoms at 3 probe settings.

RF from another simulator than ours, to judge generalisation (docs/validation.md). It is never used to train, to
select checkpoints or to tune parameters.

Example (the command that built ``data/foreign``: 33 minutes on the 2-core machine)::

    pip install -e '.[validation]'          # pymust (LGPL): a validation extra, never a runtime dependency
    python scripts/make_foreign_set.py --output data/foreign --cache data/foreign_cache --workers 2

Per probe setting (``PROBES``): a 0 degree plane wave from a sub-aperture of the array, SIMUS channel RF at
20 f0 with band-limited channel noise, then delay-and-sum of the RF itself (not IQ) with a receive f-number onto
lines centred on the probe axis, sampled at ``samples_per_period * f0``; frequency-dependent attenuation and a
time-gain compensation (one gain per probe and phantom, fitted on the pre frame) where the probe setting has it.
A zero-amplitude scatterer far below the image fixes SIMUS's record length, so one DAS matrix serves every frame.
Phantoms (``scripts/foreign_phantoms.py``): pre frame, 1 % and 2 % compression; ground truth on the beamformed grid.

Every SIMUS frame is cached (``--cache``, written atomically), so an interrupted run resumes where it stopped;
the output folder appears only when complete. Deterministic: the same command gives the same files, checked by
``sha256sum -c SHA256SUMS`` in the output folder against ``docs/foreign_set.sha256`` (``build.json`` holds the
run's timings and is not checksummed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfiltfilt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from foreign_phantoms import (  # noqa: E402
    IMAGE_DEPTH_MM,
    IMAGE_HALF_WIDTH_MM,
    PHANTOMS,
    axial_strain_at,
    displacement_at,
    image_inclusion,
    scatterers,
)

from bundle.cli import run_main  # noqa: E402
from bundle.errors import ElastographyInputError  # noqa: E402
from bundle.io.atomic import atomic_directory, atomic_path  # noqa: E402
from bundle.io.nifti import write_nifti  # noqa: E402

SPEED_OF_SOUND_M_S = 1540.0
LEVELS = (0.01, 0.02)
SEED = 20261202
#: SIMUS sampling: 20 f0, so that the DAS's linear interpolation in time is accurate
SIMUS_SAMPLES_PER_PERIOD = 20
#: band-limited noise added to every channel (dB below the frame's channel RMS over the image's echo times)
CHANNEL_SNR_DB = 20.0
#: the far scatterer that fixes SIMUS's record length (z, x in mm); amplitude 0
LENGTH_SCATTERER_MM = (25.0, -9.0)
#: channel samples kept: echoes from up to this two-way path length (mm); deeper is never beamformed
RECORD_PATH_MM = 52.0
#: this run's timings (not checksummed: they change from run to run)
BUILD_RECORD = "build.json"


@dataclass(frozen=True)
class ProbeSetting:
    """One probe setting of the set: a PyMUST array, its sub-aperture, beamforming and output sampling."""

    pymust_name: str
    elements: int  # transmit/receive sub-aperture (centred); fewer elements than the array to bound SIMUS's time
    receive_fnumber: float
    samples_per_period: float  # output RF sampling fs = samples_per_period * f0
    line_pitch_mm: float
    attenuation_db_cm_mhz: float  # 0: none, else attenuation plus time-gain compensation
    scatterers_per_cell: float  # per resolution cell (c / (2 B f0)) x (lambda F#)
    bandwidth_percent: float | None = None  # None: PyMUST's value for the probe


PROBES = {
    "L11-5V": ProbeSetting("L11-5V", 72, 1.5, 5.0, 0.2, 0.0, 4.0),
    "L14-5_38": ProbeSetting("L14-5/38", 72, 1.2, 4.0, 0.3048, 0.5, 4.0),
    "LA530": ProbeSetting("LA530", 88, 1.75, 10.0, 0.245, 0.7, 10.0, bandwidth_percent=75.0),
}


def probe_param(setting: ProbeSetting):
    """PyMUST parameters (``pymust.utils.Param``) of a probe setting: its sub-aperture, bandwidth, c, SIMUS's
    sampling rate (20 f0) and attenuation; the receive f-number is set only for beamforming (:func:`das_matrix`)."""
    import pymust

    param = pymust.getparam(setting.pymust_name)
    param.Nelements = setting.elements
    if setting.bandwidth_percent is not None or "bandwidth" not in param:
        param.bandwidth = setting.bandwidth_percent or 75.0
    param.c = SPEED_OF_SOUND_M_S
    param.fs = SIMUS_SAMPLES_PER_PERIOD * param.fc
    param.attenuation = setting.attenuation_db_cm_mhz
    return param


def probe_geometry(
    setting: ProbeSetting,
    param,
    depth_mm: tuple[float, float] = IMAGE_DEPTH_MM,
    half_width_mm: float = IMAGE_HALF_WIDTH_MM,
) -> dict:
    """Output grid (``z_mm`` depths, ``x_mm`` lines, from the probe surface and axis), sampling and scatterer
    density of a probe setting."""
    fc, bw = float(param.fc), float(param.bandwidth) / 100.0
    wavelength_mm = 1e3 * SPEED_OF_SOUND_M_S / fc
    fs_out = setting.samples_per_period * fc
    dz = 1e3 * SPEED_OF_SOUND_M_S / (2.0 * fs_out)
    n_lines = int(np.floor(2 * half_width_mm / setting.line_pitch_mm + 1e-9)) + 1
    x = (np.arange(n_lines) - (n_lines - 1) / 2.0) * setting.line_pitch_mm
    z = depth_mm[0] + np.arange(int(np.floor((depth_mm[1] - depth_mm[0]) / dz)) + 1) * dz
    cell_mm2 = (1e3 * SPEED_OF_SOUND_M_S / (2 * bw * fc)) * (wavelength_mm * setting.receive_fnumber)
    return {
        "fc": fc,
        "bandwidth": bw,
        "fs_out": fs_out,
        "wavelength_mm": wavelength_mm,
        "z_mm": z,
        "x_mm": x,
        "per_mm2": setting.scatterers_per_cell / cell_mm2,
        "record_samples": int(np.ceil(RECORD_PATH_MM * 1e-3 / SPEED_OF_SOUND_M_S * float(param.fs))),
    }


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([SEED, *key]))


def _phantom_scatterers(probe_index: int, phantom_index: int, geometry: dict):
    phantom = PHANTOMS[phantom_index]
    return scatterers(phantom, geometry["per_mm2"], geometry["wavelength_mm"], _rng(probe_index, phantom_index))


def _band_noise(shape, fc: float, bandwidth: float, fs: float, rng: np.random.Generator) -> np.ndarray:
    sos = butter(
        4, [fc * (1 - bandwidth / 2) / (fs / 2), fc * (1 + bandwidth / 2) / (fs / 2)], "bandpass", output="sos"
    )
    noise = sosfiltfilt(sos, rng.standard_normal(shape), axis=0)
    return noise / noise.std()


def channel_rf(
    param,
    z_mm,
    x_mm,
    rc,
    record_samples: int,
    noise_rng: np.random.Generator,
    image_depth_mm: tuple[float, float] = IMAGE_DEPTH_MM,
) -> np.ndarray:
    """SIMUS channel RF ``(record_samples, elements)`` float32 of scatterers at (z, x) mm for a 0 degree plane
    wave, plus band-limited noise ``CHANNEL_SNR_DB`` below the RMS of the echoes from ``image_depth_mm``."""
    import pymust

    z = np.append(np.asarray(z_mm, float), LENGTH_SCATTERER_MM[0])
    x = np.append(np.asarray(x_mm, float), LENGTH_SCATTERER_MM[1])
    rc = np.append(np.asarray(rc, float), 0.0)
    delays = pymust.txdelay(param, 0)
    rf = pymust.simus(1e-3 * x[None], 1e-3 * z[None], rc[None], delays, param)[0]
    rf = np.pad(rf, ((0, max(0, record_samples - rf.shape[0])), (0, 0)))[:record_samples]
    fs, fc, bandwidth = float(param.fs), float(param.fc), float(param.bandwidth) / 100.0
    t0, t1 = (int(2e-3 * d / SPEED_OF_SOUND_M_S * fs) for d in image_depth_mm)
    level = np.sqrt(np.mean(rf[t0:t1] ** 2)) * 10 ** (-CHANNEL_SNR_DB / 20)
    return (rf + level * _band_noise(rf.shape, fc, bandwidth, fs, noise_rng)).astype(np.float32)


def simulate_frame(job: tuple[str, int, int, Path]) -> Path:
    """SIMUS channel RF of one frame of one phantom, cached as ``.npy``; returns the cache file."""
    probe_name, phantom_index, frame, cache = job
    out = cache / probe_name / f"{PHANTOMS[phantom_index].name}_frame{frame}.npy"
    if out.exists():
        return out
    probe_index = list(PROBES).index(probe_name)
    setting = PROBES[probe_name]
    param = probe_param(setting)
    geometry = probe_geometry(setting, param)
    phantom = PHANTOMS[phantom_index]
    z, x, rc = _phantom_scatterers(probe_index, phantom_index, geometry)
    if frame > 0:
        uz, ux = displacement_at(phantom, z, x, LEVELS[frame - 1])
        z, x = z + uz, x + ux
    rf = channel_rf(param, z, x, rc, geometry["record_samples"], _rng(probe_index, phantom_index, 100 + frame))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, rf)
    return out


def das_matrix(param, geometry: dict, receive_fnumber: float):
    """Sparse delay-and-sum matrix from channel RF (Fortran-ravelled) to the image grid of ``geometry``."""
    import pymust

    xx, zz = np.meshgrid(1e-3 * geometry["x_mm"], 1e-3 * geometry["z_mm"])
    param.fnumber = receive_fnumber
    template = np.zeros((geometry["record_samples"], int(param.Nelements)), dtype=np.float32)
    return pymust.dasmtx(template, xx, zz, pymust.txdelay(param, 0), param, "linear")


def beamform(das, channel: np.ndarray, geometry: dict) -> np.ndarray:
    """Beamformed RF ``(depths, lines)`` of one frame's channel RF."""
    shape = (geometry["z_mm"].size, geometry["x_mm"].size)
    return (das @ channel.reshape(-1, order="F")).reshape(shape, order="F")


def _tgc_gain(rf: np.ndarray) -> np.ndarray:
    """Per-depth gain (H, 1) that undoes an exponential decay of the mean envelope: a least-squares line through
    the log envelope over the middle 80 % of depths (as pymust.tgc, without its random subsampling)."""
    from scipy.signal import hilbert

    env = np.abs(hilbert(rf, axis=0)).mean(axis=1)
    n = env.size
    rows = np.arange(int(0.1 * n), int(0.9 * n))
    slope, _ = np.polyfit(rows, np.log(env[rows]), 1)
    return np.exp(-slope * np.arange(n))[:, None]


def assemble_probe(probe_name: str, cache: Path, folder: Path) -> list[dict]:
    """Beamform the cached frames of one probe and write its cases and datalist into ``folder``."""
    setting = PROBES[probe_name]
    param = probe_param(setting)
    geometry = probe_geometry(setting, param)
    z, x = geometry["z_mm"], geometry["x_mm"]
    das = das_matrix(param, geometry, setting.receive_fnumber)
    spacing = (1e3 * SPEED_OF_SOUND_M_S / (2 * geometry["fs_out"]), setting.line_pitch_mm)
    acquisition = {
        "sampling_frequency_hz": geometry["fs_out"],
        "center_frequency_hz": geometry["fc"],
        "speed_of_sound_m_s": SPEED_OF_SOUND_M_S,
        "line_pitch_mm": setting.line_pitch_mm,
        "fractional_bandwidth": geometry["bandwidth"],
    }
    entries = []
    zg, xg = np.meshgrid(z, x, indexing="ij")
    for i, phantom in enumerate(PHANTOMS):
        frames = []
        for frame in range(1 + len(LEVELS)):
            channel = np.load(cache / probe_name / f"{phantom.name}_frame{frame}.npy")
            frames.append(beamform(das, channel, geometry))
        if setting.attenuation_db_cm_mhz > 0:
            gain = _tgc_gain(frames[0])
            frames = [f * gain for f in frames]
        rf = np.stack(frames, axis=-1)
        rf = (rf / np.std(rf[..., 0])).astype(np.float32)
        disp = np.zeros(zg.shape + (len(LEVELS), 2), dtype=np.float32)
        strain = np.zeros(zg.shape + (len(LEVELS),), dtype=np.float32)
        for k, level in enumerate(LEVELS):
            uz, ux = displacement_at(phantom, zg, xg, level)
            disp[..., k, 0], disp[..., k, 1] = uz, ux
            strain[..., k] = axial_strain_at(phantom, zg, xg, level)
        case = phantom.name
        names = {kind: f"{case}_{kind}.nii.gz" for kind in ("rf", "displacement", "strain")}
        write_nifti(folder / names["rf"], rf, spacing)
        write_nifti(folder / names["displacement"], disp, spacing)
        write_nifti(folder / names["strain"], strain, spacing)
        sidecar = {
            "acquisition": acquisition,
            "phantom": {
                "inclusion": image_inclusion(phantom, float(x[0])),
                "applied_strains": list(LEVELS),
                **phantom.describe(),
            },
            "simulation": {
                "simulator": "PyMUST SIMUS (plane wave 0 deg) + delay-and-sum of RF (pymust.dasmtx, linear)",
                "probe": setting.pymust_name,
                "setting": asdict(setting),
                "scatterers_per_mm2": round(geometry["per_mm2"], 2),
                "channel_snr_db": CHANNEL_SNR_DB,
                "time_gain_compensation": setting.attenuation_db_cm_mhz > 0,
                "first_sample_depth_mm": float(z[0]),
                "first_line_lateral_mm": float(x[0]),
                "seed": [SEED, list(PROBES).index(probe_name), i],
            },
            "frames": "frame 0 before compression; frame k >= 1 at applied_strains[k - 1] (from frame 0)",
            "frame_pairs": "first",
            "ground_truth_grid": "displacement and strain are given on the pre-frame pixel grid",
            "use": "independent validation only: never train, select checkpoints or tune parameters on it",
        }
        (folder / f"{case}_rf.json").write_text(json.dumps(sidecar, indent=1))
        entries.append(
            {
                "case": f"{probe_name}_{case}",
                "image": names["rf"],
                "sidecar": f"{case}_rf.json",
                "displacement": names["displacement"],
                "strain": names["strain"],
            }
        )
    return entries


def _checksums(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("SHA256SUMS", BUILD_RECORD)
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", type=Path, required=True, help="folder to create (must not exist or be empty)")
    p.add_argument("--cache", type=Path, required=True, help="folder for the SIMUS frames (kept; resumes a run)")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="processes for SIMUS")
    p.add_argument("--probes", default=",".join(PROBES), help=f"comma-separated subset of {list(PROBES)}")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    try:
        import pymust  # noqa: F401
    except ImportError:
        raise ElastographyInputError("pymust is not installed: pip install -e '.[validation]'") from None
    probes = [s.strip() for s in a.probes.split(",") if s.strip()]
    unknown = sorted(set(probes) - set(PROBES))
    if unknown or not probes:
        raise ValueError(f"unknown probe setting(s) {unknown}; choose from {list(PROBES)}")
    start = time.perf_counter()
    # the expensive (many-scatterer) probes first, so that the workers finish together
    jobs = [(name, i, f, a.cache) for name in probes for i in range(len(PHANTOMS)) for f in range(1 + len(LEVELS))]
    todo = [j for j in jobs if not (a.cache / j[0] / f"{PHANTOMS[j[1]].name}_frame{j[2]}.npy").exists()]
    print(f"{len(jobs)} SIMUS frames, {len(todo)} to simulate with {a.workers} worker(s)", flush=True)
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ctx.Pool(max(1, a.workers)) as pool:
        for k, path in enumerate(pool.imap_unordered(simulate_frame, todo), 1):
            print(f"[{k}/{len(todo)}] {path.parent.name}/{path.name} ({time.perf_counter() - start:.0f} s)", flush=True)
    simus_s = time.perf_counter() - start
    with atomic_directory(a.output, overwrite=a.overwrite) as staging:
        top = {"description": __doc__.splitlines()[1], "test": [], "probes": {}}
        for name in probes:
            folder = staging / name
            folder.mkdir()
            entries = assemble_probe(name, a.cache, folder)
            datalist = {"description": f"PyMUST validation set, probe setting {name}", "test": entries}
            (folder / "datalist.json").write_text(json.dumps(datalist, indent=1))
            top["test"] += [
                {**e, **{k: f"{name}/{e[k]}" for k in ("image", "sidecar", "displacement", "strain")}} for e in entries
            ]
            top["probes"][name] = asdict(PROBES[name])
        (staging / "datalist.json").write_text(json.dumps(top, indent=1))
        sums = _checksums(staging)
        (staging / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
        # timings change from run to run: kept out of the data and its checksums
        seconds = {
            "simus_frames": len(todo),
            "simus_s": round(simus_s, 1),
            "total_s": round(time.perf_counter() - start, 1),
        }
        (staging / BUILD_RECORD).write_text(
            json.dumps({"command": sys.argv, "workers": a.workers, **seconds}, indent=1)
        )
    print(f"wrote {a.output} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

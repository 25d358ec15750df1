"""The acquisition record: the few physical numbers that turn RF samples into millimetres.

One small typed record travels with every pair of RF frames from the reader to the estimator, the strain
computation, the metrics and the exporters. Axis convention everywhere in the toolkit: **axial first**
(array axis 0 = depth, increasing away from the probe), lateral second.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from bundle.errors import ElastographyInputError

__all__ = ["Acquisition"]

#: field stem -> {unit suffix: factor to the canonical unit of the field}
_UNIT_VARIANTS = {
    "sampling_frequency": {"hz": 1.0, "khz": 1e3, "mhz": 1e6},
    "center_frequency": {"hz": 1.0, "khz": 1e3, "mhz": 1e6},
    "speed_of_sound": {"m_s": 1.0, "mm_us": 1e3},
    "line_pitch": {"mm": 1.0, "um": 1e-3, "m": 1e3},
}
_CANONICAL_SUFFIX = {"sampling_frequency": "hz", "center_frequency": "hz", "speed_of_sound": "m_s", "line_pitch": "mm"}


def _to_canonical_units(data: dict[str, Any], source) -> dict[str, Any]:
    """Rewrite unit-suffixed keys (``sampling_frequency_mhz``) to the record's field names and units."""
    out = dict(data)
    for stem, units in _UNIT_VARIANTS.items():
        given = [(unit, f"{stem}_{unit}") for unit in units if f"{stem}_{unit}" in data]
        if len(given) > 1:
            keys = ", ".join(key for _, key in given)
            raise ElastographyInputError(f"acquisition gives '{stem}' more than once ({keys})", source)
        if not given:
            continue
        unit, key = given[0]
        value = out.pop(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ElastographyInputError(f"acquisition field '{key}' is not a number: {value!r}", source)
        out[f"{stem}_{_CANONICAL_SUFFIX[stem]}"] = float(value) * units[unit]
    return out


@dataclass(frozen=True)
class Acquisition:
    """Acquisition parameters of one RF data set, in SI units except spacing (mm).

    Attributes:
        sampling_frequency_hz: RF sampling frequency fs (Hz).
        center_frequency_hz: transducer centre frequency f0 (Hz).
        speed_of_sound_m_s: assumed speed of sound c (m/s).
        line_pitch_mm: lateral distance between neighbouring RF lines (mm).
        fractional_bandwidth: -6 dB bandwidth divided by f0 (e.g. 0.7); used by the simulator and by the
            Cramer-Rao / strain-filter bounds, not by the estimators.
    """

    sampling_frequency_hz: float
    center_frequency_hz: float
    speed_of_sound_m_s: float = 1540.0
    line_pitch_mm: float = 0.3
    fractional_bandwidth: float = 0.7

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ElastographyInputError(f"acquisition field '{f.name}' must be a positive number, got {value!r}")
        if self.sampling_frequency_hz < 2 * self.center_frequency_hz:
            raise ElastographyInputError(
                f"sampling frequency {self.sampling_frequency_hz:g} Hz is below twice the centre frequency "
                f"{self.center_frequency_hz:g} Hz: RF would alias"
            )

    @property
    def axial_spacing_mm(self) -> float:
        """Depth between two RF samples (mm): c / (2 fs), two-way travel."""
        return 1e3 * self.speed_of_sound_m_s / (2.0 * self.sampling_frequency_hz)

    @property
    def spacing_mm(self) -> tuple[float, float]:
        """(axial, lateral) pixel spacing in mm."""
        return (self.axial_spacing_mm, self.line_pitch_mm)

    @property
    def wavelength_mm(self) -> float:
        """Wavelength at the centre frequency (mm)."""
        return 1e3 * self.speed_of_sound_m_s / self.center_frequency_hz

    def mm_to_samples(self, axial_mm: float) -> float:
        """Axial length in mm -> (fractional) number of RF samples."""
        return axial_mm / self.axial_spacing_mm

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None) -> Acquisition:
        """Build from a mapping (e.g. a JSON sidecar); unknown keys are ignored, missing required keys raise.

        Required: sampling and centre frequency and the line pitch (without them no spacing in mm exists).
        Speed of sound defaults to 1540 m/s, the value scanners assume; fractional bandwidth to 0.7 (used only
        by the simulator and the theoretical bounds).

        Each field may also be given in another unit, named by its suffix (converted on load; giving the same
        field twice is an error): frequencies ``_hz``, ``_khz``, ``_mhz``; speed of sound ``_m_s``, ``_mm_us``;
        line pitch ``_mm``, ``_um``, ``_m``. Example: ``{"sampling_frequency_mhz": 40, "line_pitch_um": 300}``.
        """
        if not isinstance(data, dict):
            raise ElastographyInputError("acquisition must be a JSON object", source)
        data = _to_canonical_units(data, source)
        names = {f.name for f in fields(cls)}
        required = {"sampling_frequency_hz", "center_frequency_hz", "line_pitch_mm"}
        missing = sorted(required - data.keys())
        if missing:
            raise ElastographyInputError(f"acquisition is missing required field(s): {', '.join(missing)}", source)
        try:
            return cls(**{k: float(v) for k, v in data.items() if k in names})
        except (TypeError, ValueError) as err:
            if isinstance(err, ElastographyInputError):
                raise ElastographyInputError(err.problem, source) from None
            raise ElastographyInputError(f"acquisition field is not a number: {err}", source) from None

"""Send DICOM results (Parametric Maps and overlays from inference) to a PACS by C-STORE.

Example (the run folder of ``configs/inference.json --dicom True``; every ``*.dcm`` below it is sent)::

    python scripts/send_to_pacs.py runs/inference --host pacs.example.org --port 104 --ae-title PACS

A progress bar on stderr; then one line of counts and one line per file that failed, with the reason.
Exit status: 0 all stored; 1 some files refused (listed); 2 bad input; 3 PACS unreachable or refusing.
The defaults of ``--host``/``--port``/``--ae-title`` come from ``configs/pacs.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bundle.cli import run_main  # noqa: E402
from bundle.errors import ElastographyInputError  # noqa: E402
from bundle.export.pacs import PacsTarget, find_dicom_files, send_dicom  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    defaults = json.loads((ROOT / "configs" / "pacs.json").read_text())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="DICOM files or folders (searched for *.dcm)")
    parser.add_argument("--host", default=defaults["pacs_host"])
    parser.add_argument("--port", type=int, default=defaults["pacs_port"])
    parser.add_argument("--ae-title", default=defaults["pacs_ae_title"], help="the PACS's (called) AE title")
    parser.add_argument("--calling-ae-title", default=defaults["calling_ae_title"])
    parser.add_argument("--timeout", type=float, default=defaults["timeout_s"], help="seconds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (stderr)")
    a = parser.parse_args(argv)
    files = find_dicom_files(a.paths)
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise ElastographyInputError("not found", missing[0])
    if not files:
        raise ElastographyInputError("no *.dcm file found", a.paths[0])
    target = PacsTarget(a.host, a.port, a.ae_title, a.calling_ae_title, a.timeout)
    report = send_dicom(files, target, progress=not a.no_progress)
    print(report.report())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(run_main(main))

"""Send DICOM results to a PACS by C-STORE (pynetdicom): one association, every file, a report of the failures.

A PACS that cannot be reached or refuses the association raises :class:`bundle.errors.PacsError` before anything
is sent; a file the PACS refuses (non-success status) or that is not a readable DICOM is reported and the
others are still sent. Nothing is deleted or changed locally. The C-STORE requests of one association carry
increasing message IDs (1, 2, 3, ...); pynetdicom's per-message INFO log lines are silenced (a progress bar
instead, ``progress=True``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from tqdm import tqdm

from bundle.errors import PacsError

__all__ = ["PacsTarget", "SendReport", "find_dicom_files", "send_dicom"]

# pynetdicom logs two INFO lines per C-STORE and three per association: noise around a progress bar; its warnings
# and errors still show
logging.getLogger("pynetdicom").setLevel(logging.WARNING)
_MAX_MESSAGE_ID = 0xFFFF  # Message ID is an unsigned 16-bit number


@dataclass(frozen=True)
class PacsTarget:
    """Where to send: the PACS's host, port and AE title, and our own (calling) AE title."""

    host: str
    port: int
    ae_title: str
    calling_ae_title: str = "ELASTOGRAPHY"
    timeout_s: float = 30.0

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass
class SendReport:
    """Files stored (with the SOP Instance UID) and files refused (with the reason)."""

    target: str
    sent: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"C-STORE to {self.target}: {len(self.sent)} sent, {len(self.failed)} failed"]
        lines += [f"  FAILED {f['file']}: {f['reason']}" for f in self.failed]
        return "\n".join(lines)


def find_dicom_files(paths: list[str | Path]) -> list[Path]:
    """Every ``*.dcm`` under the given folders, plus the given files, sorted and without repeats. Hidden files
    and folders (the ``.name.part`` files and staging folders of a write in progress) are left out."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(path)
            continue
        for file in sorted(path.rglob("*.dcm")):
            if not any(part.startswith(".") for part in file.relative_to(path).parts):
                found.append(file)
    return list(dict.fromkeys(found))


def send_dicom(files: list[str | Path], target: PacsTarget, progress: bool = False) -> SendReport:
    """C-STORE ``files`` to ``target`` over one association; see the module docstring for failures.

    Args:
        progress: show a progress bar (files sent) on stderr.
    """
    report = SendReport(str(target))
    datasets = []
    for path in map(Path, files):
        try:
            ds = pydicom.dcmread(path)
            if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
                raise ValueError("no SOP Class/Instance UID")
            datasets.append((path, ds))
        except (InvalidDicomError, OSError, EOFError, ValueError, AttributeError) as err:
            report.failed.append({"file": str(path), "reason": f"not a readable DICOM file ({err})"})
    if datasets:
        _send(datasets, target, report, progress)
    return report


def _send(datasets: list, target: PacsTarget, report: SendReport, progress: bool) -> None:
    from pynetdicom import AE

    ae = AE(ae_title=target.calling_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = target.timeout_s
    classes: dict[str, set[str]] = {}
    for _, ds in datasets:
        stored = getattr(ds, "file_meta", {}).get("TransferSyntaxUID", ExplicitVRLittleEndian)
        classes.setdefault(str(ds.SOPClassUID), set()).add(str(stored))
    for sop_class, syntaxes in classes.items():  # offer the stored syntax and both uncompressed ones
        ae.add_requested_context(sop_class, sorted(syntaxes | {ExplicitVRLittleEndian, ImplicitVRLittleEndian}))
    assoc = ae.associate(target.host, target.port, ae_title=target.ae_title)
    if not assoc.is_established:
        why = "refused the association" if assoc.is_rejected else "is not reachable (no association)"
        raise PacsError(f"PACS {target} {why}; nothing was sent")
    message_id = 0
    bar = tqdm(datasets, desc=f"C-STORE to {target.ae_title}", unit="file", disable=not progress)
    try:
        for path, ds in bar:
            bar.set_postfix(failed=len(report.failed), refresh=False)
            if not assoc.is_established:
                report.failed.append({"file": str(path), "reason": "association lost before this file"})
                continue
            message_id = message_id % _MAX_MESSAGE_ID + 1  # 1, 2, ... 65535, 1, ...
            try:
                status = assoc.send_c_store(ds, msg_id=message_id)
            except ValueError as err:  # pynetdicom: no accepted presentation context for this SOP class/syntax
                reason = f"PACS did not accept SOP class {ds.SOPClassUID.name or ds.SOPClassUID} ({err})"
                report.failed.append({"file": str(path), "reason": reason})
                continue
            code = getattr(status, "Status", None)
            if code is None:
                report.failed.append({"file": str(path), "reason": "no response (timeout or connection lost)"})
            elif code == 0x0000 or code in (0xB000, 0xB007, 0xB006):  # success, or stored with a warning
                report.sent.append({"file": str(path), "sop_instance_uid": str(ds.SOPInstanceUID)})
            else:
                report.failed.append({"file": str(path), "reason": f"PACS refused it (status 0x{code:04X})"})
    finally:
        bar.close()
        if assoc.is_established:
            assoc.release()

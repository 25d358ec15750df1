"""C-STORE to a real Orthanc (Debian package ``orthanc``) on loopback; refusals and a PACS that is down."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pydicom
import pytest

from bundle.errors import PacsError
from bundle.export.case import CaseOutputs, write_case_outputs
from bundle.export.dicom import anonymous_identity
from bundle.export.pacs import PacsTarget, find_dicom_files, send_dicom
from bundle.pairs import FramePair

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rest(port: int, route: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{route}", timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def orthanc(tmp_path):
    """An Orthanc started for this test: temporary storage, loopback only, AE title ORTHANC; stopped after."""
    binary = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    if binary is None:
        if os.environ.get("ELASTO_REQUIRE_TOOLS") == "1":
            pytest.fail("Orthanc not installed (apt-get install orthanc)")
        pytest.skip("Orthanc not installed (apt-get install orthanc)")
    dicom_port, http_port = _free_port(), _free_port()
    config = {
        "Name": "elastography-test", "StorageDirectory": str(tmp_path / "orthanc-db"),
        "IndexDirectory": str(tmp_path / "orthanc-db"), "DicomAet": "ORTHANC", "DicomPort": dicom_port,
        "HttpPort": http_port, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomCheckCalledAet": True, "DicomAlwaysAllowStore": True, "Plugins": [],
    }  # fmt: skip
    (tmp_path / "orthanc.json").write_text(json.dumps(config))
    log = (tmp_path / "orthanc.log").open("w")
    process = subprocess.Popen([binary, str(tmp_path / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                _rest(http_port, "/system")
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("Orthanc did not start:\n" + (tmp_path / "orthanc.log").read_text()[-2000:])
        yield {"dicom_port": dicom_port, "http_port": http_port}
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _write_results(run: Path, model_name: str = "MUSSE-Net") -> Path:
    """A case folder with two pairs' Parametric Maps and overlays (anonymous) of one recording."""
    rng = np.random.default_rng(0)
    strain = (-0.01 + 0.001 * rng.standard_normal((2, 96, 16))).astype(np.float32)
    displacement = np.zeros((2, 2, 96, 16), np.float32)
    from bundle.acquisition import Acquisition

    folder = run / "case"
    folder.mkdir(parents=True)
    write_case_outputs(
        folder, "case", rng.standard_normal((2, 96, 16)), [FramePair(0, 1), FramePair(1, 2)], displacement, strain,
        Acquisition(40e6, 5e6, 1540.0, 0.3), CaseOutputs(png=False, dicom=True, model_name=model_name),
        anonymous_identity(hashlib.sha256(b"a recording").hexdigest()),
    )  # fmt: skip
    return run


@pytest.fixture
def results(tmp_path):
    return _write_results(tmp_path / "run")


def test_send_and_confirm_through_rest(orthanc, results):
    files = find_dicom_files([results])
    assert len(files) == 4
    report = send_dicom(files, PacsTarget("127.0.0.1", orthanc["dicom_port"], "ORTHANC"))
    assert len(report.sent) == 4 and not report.failed, report.report()
    stored = {}
    for instance_id in _rest(orthanc["http_port"], "/instances"):
        tags = _rest(orthanc["http_port"], f"/instances/{instance_id}/simplified-tags")
        stored[tags["SOPInstanceUID"]] = tags["SeriesInstanceUID"]
    for path in files:
        ds = pydicom.dcmread(path)
        assert stored.get(ds.SOPInstanceUID) == ds.SeriesInstanceUID, f"{path.name} missing or in the wrong series"
    assert len(_rest(orthanc["http_port"], "/series")) == 2  # maps and overlays, each one series


def test_script_exit_status_and_refusals(orthanc, results, tmp_path):
    script = [sys.executable, str(ROOT / "scripts" / "send_to_pacs.py"), str(results), "--host", "127.0.0.1"]
    ok = subprocess.run([*script, "--port", str(orthanc["dicom_port"])], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "4 sent, 0 failed" in ok.stdout
    # wrong called AE title: Orthanc checks it and rejects the association -> status 3, clear message
    refused = subprocess.run([*script, "--port", str(orthanc["dicom_port"]), "--ae-title", "NOTORTHANC"],
                             capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 3 and "refused the association" in refused.stderr
    # a corrupt file among good ones: reported, the others still stored -> status 1
    (results / "case" / "dicom" / "broken.dcm").write_bytes(b"\0" * 50)
    partial = subprocess.run([*script, "--port", str(orthanc["dicom_port"])], capture_output=True, text=True)
    assert partial.returncode == 1 and "4 sent, 1 failed" in partial.stdout and "broken.dcm" in partial.stdout


def test_pacs_down(results):
    port = _free_port()  # nothing listens here
    with pytest.raises(PacsError, match="not reachable"):
        send_dicom(find_dicom_files([results]), PacsTarget("127.0.0.1", port, "ORTHANC", timeout_s=3))


@pytest.fixture
def picky_scp():
    """A pynetdicom SCP on loopback that accepts only Secondary Capture and refuses one named instance."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import SecondaryCaptureImageStorage

    refused: set[str] = set()

    def on_store(event):
        return 0xA700 if event.request.AffectedSOPInstanceUID in refused else 0x0000

    ae = AE(ae_title="PICKY")
    ae.add_supported_context(SecondaryCaptureImageStorage)
    port = _free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield port, refused
    finally:
        server.shutdown()


def test_sop_class_not_accepted_and_failure_status(picky_scp, results):
    port, refused = picky_scp
    files = find_dicom_files([results])
    overlays = [f for f in files if f.name.startswith("overlay")]
    refused.add(pydicom.dcmread(overlays[0]).SOPInstanceUID)
    report = send_dicom(files, PacsTarget("127.0.0.1", port, "PICKY"))
    reasons = {Path(f["file"]).name: f["reason"] for f in report.failed}
    assert [Path(f["file"]).name for f in report.sent] == [overlays[1].name]
    assert reasons[overlays[0].name] == "PACS refused it (status 0xA700)"
    maps = [f.name for f in files if f.name.startswith("strain_pm")]
    assert len(maps) == 2 and all("did not accept SOP class" in reasons[m] for m in maps)


def test_hidden_staging_files_are_not_sent(results):
    (results / "case" / ".case.partial").mkdir()
    (results / "case" / ".case.partial" / "x.dcm").write_bytes(b"")
    (results / "case" / "dicom" / ".strain_pm_9.dcm.abc.part.dcm").write_bytes(b"")
    assert len(find_dicom_files([results])) == 4


def test_resending_is_not_a_new_study_and_another_estimator_is_a_new_series(orthanc, tmp_path):
    """Two exports of one result (two runs) land in one study and two series; another estimator adds two series to
    the same study and patient, nothing else."""
    target = PacsTarget("127.0.0.1", orthanc["dicom_port"], "ORTHANC")
    for run, model in (("run1", "MUSSE-Net"), ("run2", "MUSSE-Net"), ("run3", "ncc")):
        report = send_dicom(find_dicom_files([_write_results(tmp_path / run, model)]), target)
        assert len(report.sent) == 4 and not report.failed, report.report()
        counts = {level: len(_rest(orthanc["http_port"], f"/{level}")) for level in ("patients", "studies", "series")}
        assert counts == {"patients": 1, "studies": 1, "series": 4 if run == "run3" else 2}, (run, counts)
    assert len(_rest(orthanc["http_port"], "/instances")) == 8


@pytest.fixture
def recording_scp():
    """A pynetdicom SCP on loopback that stores every storage class and records each request's Message ID."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    message_ids: list[int] = []

    def on_store(event):
        message_ids.append(event.request.MessageID)
        return 0x0000

    ae = AE(ae_title="RECORDER")
    ae.supported_contexts = AllStoragePresentationContexts
    port = _free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield port, message_ids
    finally:
        server.shutdown()


def test_message_ids_increase(recording_scp, results):
    port, message_ids = recording_scp
    report = send_dicom(find_dicom_files([results]), PacsTarget("127.0.0.1", port, "RECORDER"))
    assert len(report.sent) == 4 and message_ids == [1, 2, 3, 4]


def test_script_shows_a_progress_bar_and_only_failures(recording_scp, results):
    port, message_ids = recording_scp
    (results / "case" / "dicom" / "broken.dcm").write_bytes(b"\0" * 50)
    script = [sys.executable, str(ROOT / "scripts" / "send_to_pacs.py"), str(results), "--host", "127.0.0.1"]
    run = subprocess.run([*script, "--port", str(port), "--ae-title", "RECORDER"], capture_output=True, text=True)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "pynetdicom" not in output and "INFO" not in output  # no association or per-message log lines
    assert "4/4" in run.stderr  # the progress bar, at its end
    assert run.stdout.splitlines()[0].endswith("4 sent, 1 failed")
    broken = [line for line in output.splitlines() if "broken.dcm" in line]  # one line for the one failure
    assert len(broken) == 1 and broken[0].startswith("  FAILED ") and broken[0] in run.stdout, broken
    assert message_ids == [1, 2, 3, 4]

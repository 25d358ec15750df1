"""The real MONAI Label server with our app (scripts/monailabel_app), started from .venv-label, driven over REST.

Needs ``make label-env``; ``make test-label`` runs this file (ELASTO_REQUIRE_LABEL=1 turns a missing environment
into a failure instead of a skip). Every server is started in its own process group and killed at the end, pass
or fail, and its temporary folder (app copy, studies, sessions, logs) is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bundle.acquisition import Acquisition
from bundle.io.nifti import write_nifti
from bundle.simulation import PhantomConfig, simulate_sequence

ROOT = Path(__file__).resolve().parents[2]
LABEL_BIN = ROOT / ".venv-label" / "bin"
APP = ROOT / "scripts" / "monailabel_app"
START_TIMEOUT_S = 180
#: server against batch inference, same pair: the same code on CPU float32 (bit-identical when measured); 1e-6
#: absolute on a strain of ~1e-2 leaves room for numpy 1 against numpy 2 and other BLAS builds, nothing more
STRAIN_ATOL = 1e-6

if not (LABEL_BIN / "monailabel").exists():
    if os.environ.get("ELASTO_REQUIRE_LABEL") == "1":
        pytest.fail(f"{LABEL_BIN}/monailabel is missing: run `make label-env`", pytrace=False)
    pytest.skip("no .venv-label (make label-env)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(app: Path, studies: Path, port: int, *conf: str) -> list[str]:
    return [
        str(LABEL_BIN / "monailabel"), "start_server", "--app", str(app), "--studies", str(studies),
        "--host", "127.0.0.1", "--port", str(port), "--log_config", str(APP / "logging.json"), *conf,
    ]  # fmt: skip


def server_env(folder: Path) -> dict:
    env = dict(os.environ, PATH=f"{LABEL_BIN}{os.pathsep}{os.environ['PATH']}")
    env["MONAI_LABEL_SESSION_PATH"] = str(folder / "sessions")  # not the user's ~/.cache
    env.pop("PYTHONPATH", None)
    return env


def write_recording(folder: Path, name: str, sidecar: bool = True) -> np.ndarray:
    """A 3-frame uniform compression (0, 0.4, 0.8 %), 512 x 48 at 40 MHz; returns the frames ``(3, H, W)``."""
    acq = Acquisition(40e6, 5e6, 1540.0, 0.3)
    seq = simulate_sequence(PhantomConfig(shape=(512, 48), acquisition=acq), None, (0.004, 0.008), seed=3)
    write_nifti(folder / f"{name}.nii.gz", np.moveaxis(seq.rf, 0, -1), acq.spacing_mm)
    if sidecar:
        (folder / f"{name}.json").write_text(json.dumps({"acquisition": acq.to_dict(), "frame_pairs": "first"}))
    return seq.rf


@contextmanager
def running_server(folder: Path, studies: Path, *conf: str):
    """Start the server; yield its URL once /info/ answers; always kill its process group."""
    port = free_port()
    log = open(folder / f"server-{port}.log", "w")
    process = subprocess.Popen(
        server_command(folder / "app", studies, port, *conf),
        stdout=log, stderr=subprocess.STDOUT, env=server_env(folder), cwd=folder, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{(folder / log.name).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/info/", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"server did not answer within {START_TIMEOUT_S} s")
                time.sleep(1)
        yield url
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def post(url: str, params: dict | None = None) -> tuple[int, bytes, dict]:
    """POST with MONAI Label's ``params`` form field; (status, body, headers), errors included."""
    data = urllib.parse.urlencode({"params": json.dumps(params or {})}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=120) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


@pytest.fixture(scope="module")
def workspace():
    folder = Path(tempfile.mkdtemp(prefix="elasto-label-"))
    try:
        generated = shutil.ignore_patterns("model", "lib", "logs", "bin", "__pycache__")  # start_server's folders
        shutil.copytree(APP, folder / "app", ignore=generated)
        studies = folder / "studies"
        studies.mkdir()
        write_recording(studies, "rec_rf")
        write_recording(studies, "nosidecar_rf", sidecar=False)
        (studies / "corrupt_rf.nii.gz").write_bytes((studies / "rec_rf.nii.gz").read_bytes()[:3000])
        shutil.copy(studies / "rec_rf.json", studies / "corrupt_rf.json")
        yield folder, studies
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server(workspace):
    folder, studies = workspace
    with running_server(folder, studies) as url:
        yield url


@pytest.fixture(scope="module")
def batch_strain(workspace):
    """The bundle's own inference of rec_rf (pairs 0->1, 0->2): `monai.bundle run` with configs/inference.json."""
    folder, studies = workspace
    data = folder / "batch-in"
    data.mkdir()
    for suffix in (".nii.gz", ".json"):
        shutil.copy(studies / f"rec_rf{suffix}", data)
    out = folder / "batch-out"
    command = [
        str(ROOT / ".venv" / "bin" / "python"), "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
        "--dataset_dir", str(data), "--output_dir", str(out), "--instance_steps", "0", "--png", "False",
        "--progress", "False", "--device", "cpu",
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=600)
    # batch inference names the case folder after the recording without its "_rf" suffix
    return nib.load(out / "rec" / "strain.nii.gz").get_fdata(dtype=np.float32)  # (H, W, pairs)


def test_app_lists_the_model_with_version_and_input(server):
    with urllib.request.urlopen(f"{server}/info/", timeout=30) as response:
        info = json.load(response)
    meta = json.loads((ROOT / "configs" / "metadata.json").read_text())
    assert info["version"] == meta["version"]
    model = info["models"]["strain"]
    assert model["version"] == meta["version"] and model["model"] == meta["name"]
    assert model["type"] == "others" and "JSON sidecar" in model["input"]
    assert set(model["config"]["result"]) == {"strain", "displacement", "overlay"}
    assert info["datastore"]["total"] == 3


@pytest.mark.parametrize("pair", [(0, 1), (0, 2)])
def test_served_strain_equals_batch_inference(server, batch_strain, pair):
    status, body, headers = post(f"{server}/infer/strain?image=rec_rf&output=image", {"pre": pair[0], "post": pair[1]})
    assert status == 200, body
    assert f"rec_rf_{pair[0]}-{pair[1]}_strain" in headers["content-disposition"]
    with tempfile.NamedTemporaryFile(suffix=".nii.gz") as file:
        file.write(body)
        file.flush()
        image = nib.load(file.name)
        served = image.get_fdata(dtype=np.float32)
        zooms = image.header.get_zooms()
    expected = batch_strain[..., pair[1] - 1]
    assert served.shape == expected.shape == (512, 48)
    np.testing.assert_allclose(zooms, (0.01925, 0.3), rtol=1e-4)
    np.testing.assert_allclose(served, expected, rtol=0, atol=STRAIN_ATOL)
    # and it is the compression that was applied (0.4 % per step), not just the same wrong answer twice
    assert np.median(served) == pytest.approx(-0.004 * pair[1], rel=0.25)


def test_displacement_overlay_and_summary(server):
    status, body, _ = post(f"{server}/infer/strain?image=rec_rf&output=image", {"result": "displacement"})
    assert status == 200
    with tempfile.NamedTemporaryFile(suffix=".nii.gz") as file:
        file.write(body)
        file.flush()
        displacement = nib.load(file.name).get_fdata(dtype=np.float32)
    assert displacement.shape == (512, 48, 2)
    depth_mm = 512 * 0.01925
    # default pair 0->1 (sidecar "first"): 0.4 % compression, the bottom moves ~depth x strain towards the probe
    assert abs(displacement[-20:, :, 0].mean()) == pytest.approx(0.004 * depth_mm, rel=0.3)
    status, body, headers = post(f"{server}/infer/strain?image=rec_rf&output=image", {"result": "overlay"})
    assert status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n"
    status, body, _ = post(f"{server}/infer/strain?image=rec_rf&output=json", {"pre": 0, "post": 2})
    summary = json.loads(body)
    assert status == 200 and (summary["pre_frame"], summary["post_frame"]) == (0, 2)
    assert summary["estimator"] == "musse-net" and summary["mean_strain"] == pytest.approx(-0.008, rel=0.25)


@pytest.mark.parametrize(
    "query, params, status, words",
    [
        ("image=missing_rf", {}, 404, ["no recording 'missing_rf'"]),
        ("image=nosidecar_rf", {}, 422, ["nosidecar_rf.json", "sidecar not found"]),
        ("image=corrupt_rf", {}, 422, ["corrupt_rf.nii.gz", "cannot read"]),
        ("image=rec_rf", {"pre": 0, "post": 7}, 422, ["rec_rf.nii.gz", "post frame 7 is not in the file"]),
        ("image=rec_rf", {"pre": 1}, 400, ["both the pre and the post frame"]),
        ("image=rec_rf", {"pre": 1, "post": 1}, 400, ["same frame (1)"]),
        ("image=rec_rf", {"pre": "first", "post": 2}, 400, ["pre must be a frame number, got 'first'"]),
        ("image=rec_rf", {"result": "segmentation"}, 400, ["result must be one of"]),
    ],
)
def test_bad_requests_get_clear_answers_and_the_server_keeps_serving(server, query, params, status, words):
    code, body, _ = post(f"{server}/infer/strain?{query}&output=json", params)
    check_answer_then_good_request(server, code, body, status, words)


def test_unknown_model_is_named(server):
    code, body, _ = post(f"{server}/infer/segmentation?image=rec_rf&output=json")
    check_answer_then_good_request(server, code, body, 404, ["no model 'segmentation'; this app serves: strain"])


def check_answer_then_good_request(server, code, body, status, words):
    detail = json.loads(body)["detail"]
    assert code == status and all(w in detail for w in words), detail
    code, body, _ = post(f"{server}/infer/strain?image=rec_rf&output=json")
    assert code == 200 and json.loads(body)["post_frame"] == 1


def start_and_fail(workspace, port: int, *conf: str) -> tuple[int, str]:
    folder, studies = workspace
    process = subprocess.Popen(
        server_command(folder / "app", studies, port, *conf),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=server_env(folder), cwd=folder,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=START_TIMEOUT_S)
        return process.returncode, output
    finally:
        stop(process)


def test_missing_model_file_stops_the_start_with_its_name(workspace):
    missing = workspace[0] / "no-such-model.pt"
    code, output = start_and_fail(workspace, free_port(), "--conf", "checkpoint", str(missing))
    assert code != 0
    assert f"{missing}: model file not found" in output


def test_port_in_use_is_refused_and_the_running_server_is_unharmed(workspace, server):
    code, output = start_and_fail(workspace, urllib.parse.urlparse(server).port)  # the running server's port
    assert code != 0 and "address already in use" in output
    code, body, _ = post(f"{server}/infer/strain?image=rec_rf&output=json")
    assert code == 200 and json.loads(body)["post_frame"] == 1


def test_bundle_serving_imports_in_the_label_environment():
    """The app imports bundle code under numpy < 2 and pydicom < 3 without the DICOM export (highdicom)."""
    script = (
        "import sys, numpy, pydicom, bundle.serving, bundle.io.readers, bundle.export.overlay;"
        "assert numpy.__version__.startswith('1.') and pydicom.__version__.startswith('2.');"
        "assert 'highdicom' not in sys.modules; print('ok')"
    )
    result = subprocess.run([str(LABEL_BIN / "python"), "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr

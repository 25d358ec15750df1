"""MONAI Label app: strain elastography from RF recordings, served to 3D Slicer, OHIF or plain REST clients.

Start (from the repository root, in the label environment made by ``make label-env``)::

    .venv-label/bin/monailabel start_server --app scripts/monailabel_app --studies <folder of recordings> \
        --host 127.0.0.1 --port 8000

The studies folder holds RF recordings (NIfTI or MetaImage, frames last) each with its JSON sidecar; a recording's
id is its file name without the extension. Settings (``--conf KEY VALUE``): ``bundle_root`` (folder with
``configs/`` and ``models/``; default the checkout the bundle was installed from), ``checkpoint`` (default
``models/model.pt`` there), ``instance_steps`` (default 0: the network alone) and ``device``.

The estimator is the bundle's own (:class:`bundle.serving.StrainService` builds it from
``configs/inference.json``), so a strain served here equals batch inference's for the same pair. See
docs/monailabel.md.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from fastapi import HTTPException
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from bundle.errors import ElastographyInputError
from bundle.serving import RESULT_KINDS, StrainService

logger = logging.getLogger(__name__)

#: recordings a viewer can also open; the bundle reads more (.mat, .npy, .npz) but MONAI Label clients do not
VIEWABLE_SUFFIXES = ("*.nii.gz", "*.nii", "*.mha", "*.mhd")


def _frame(request: dict, key: str) -> int | None:
    """A frame number from the request: absent or empty means "let the sidecar's pairing choose"."""
    value = request.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HTTPException(status_code=400, detail=f"{key} must be a frame number, got {value!r}") from None


class StrainInferTask(InferTask):
    """One request: ``image`` (a recording id), optional ``pre``/``post`` frame numbers and ``result``
    (``strain``, the default; ``displacement``; ``overlay``). Answers the file and a JSON summary of the pair.

    Status codes: 400 a bad request, 404 an unknown recording (the app), 422 a recording the bundle cannot use
    (no sidecar, corrupt, a frame outside the file), each with the file and the problem in ``detail``."""

    def __init__(self, service: StrainService):
        super().__init__(
            type=InferType.OTHERS,  # a float map, not a segmentation
            labels=None,
            dimension=2,
            description="Axial strain (fraction) of one frame pair of an RF recording, from the bundle's network",
            config={"result": list(RESULT_KINDS), "pre": "", "post": ""},
        )
        self.service = service

    def info(self):
        return {
            **super().info(),
            "model": self.service.name,
            "version": self.service.version,
            "estimator": self.service.estimator.name,
            "input": "RF recording (NIfTI or MetaImage; axial samples x lines x frames) with its JSON sidecar "
            "(sampling and centre frequency, speed of sound, line pitch); pre and post are frame numbers",
            "output": {
                "strain": "float32 NIfTI (H, W), axial strain as a fraction, spacing in mm",
                "displacement": "float32 NIfTI (H, W, 2), axial then lateral displacement in mm",
                "overlay": "RGB PNG: B-mode with the strain in colour, SOFT/HARD colour bar",
            },
        }

    def is_valid(self) -> bool:
        return True

    def __call__(self, request):
        kind = request.get("result") or "strain"
        kind = kind[0] if isinstance(kind, list) else kind  # a client echoing the option list means its default
        if kind not in RESULT_KINDS:
            raise HTTPException(status_code=400, detail=f"result must be one of {', '.join(RESULT_KINDS)}")
        pre, post = _frame(request, "pre"), _frame(request, "post")
        try:
            result = self.service.estimate(request["image"], pre, post)
        except ElastographyInputError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None
        except ValueError as err:
            raise HTTPException(status_code=400, detail=str(err)) from None
        # MONAI Label deletes the file once sent; the name tells a client what it holds
        stem = f"{result.source.name.split('.')[0]}_{result.pre}-{result.post}_{kind}_"
        with tempfile.NamedTemporaryFile(prefix=stem, suffix=RESULT_KINDS[kind], delete=False) as file:
            path = Path(file.name)
        try:
            self.service.write(result, kind, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return str(path), {**result.summary(), "result": kind, "model_version": self.service.version}


class StrainElastographyApp(MONAILabelApp):
    def __init__(self, app_dir: str, studies: str, conf: dict):
        # built before the base class asks for the tasks: a missing model file stops the start-up with its name
        self.service = StrainService(
            bundle_root=conf.get("bundle_root"),
            checkpoint=conf.get("checkpoint"),
            instance_steps=int(conf.get("instance_steps", 0)),
            device=conf.get("device"),
        )
        logger.info("strain model %s %s from %s", self.service.name, self.service.version, self.service.checkpoint)
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="MUSSE-Net strain elastography",
            description="Axial strain from pre- and post-compression RF frames (quasi-static elastography)",
            version=self.service.version,
        )

    def init_datastore(self) -> Datastore:
        if self.studies.startswith(("http://", "https://")):
            return super().init_datastore()  # DICOMweb holds images, not RF: listed, but not what we estimate from
        return LocalDatastore(self.studies, extensions=VIEWABLE_SUFFIXES, auto_reload=True)

    def init_infers(self):
        return {"strain": StrainInferTask(self.service)}

    def init_strategies(self):
        return {}  # nothing to annotate: no active-learning strategy

    def infer(self, request, datastore=None):
        """MONAI Label's infer, with an unknown recording answered 404 by name (the base class passes an empty
        path on, which would fail later with a less helpful message)."""
        if request.get("model") not in self._infers:
            raise HTTPException(status_code=404, detail=f"no model '{request.get('model')}'; this app serves: strain")
        image = request.get("image")
        if isinstance(image, str) and not os.path.exists(image):
            store = datastore if datastore else self.datastore()
            if not store.get_image_uri(image):
                raise HTTPException(
                    status_code=404,
                    detail=f"no recording '{image}' in the datastore (GET /datastore/?output=all lists them)",
                )
        return super().infer(request, datastore)

"""RapidOCR (PP-OCR detection + recognition, ONNX models inside the wheel), one thread."""

from __future__ import annotations

import hashlib
import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from veil.pixels.ocr.base import OcrUnavailableError, TextBox, box_of_points


def _models_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for model in sorted(root.glob("*.onnx")):
        digest.update(model.name.encode())
        digest.update(model.read_bytes())
    return digest.hexdigest()[:16]


class RapidEngine:
    name = "rapidocr"
    _shared: ClassVar[RapidEngine | None] = None

    def __init__(self) -> None:
        try:
            import rapidocr
            from rapidocr import RapidOCR
        except ImportError:
            raise OcrUnavailableError(
                "RapidOCR is not installed; install veil with its pixels extra: "
                "pip install 'veil[pixels]'"
            ) from None
        # RapidOCR logs every call at INFO, with timings; keep it quiet (and never let OCR'd
        # text reach a log).
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self._engine: Any = RapidOCR(
            params={
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        root = Path(rapidocr.__file__).parent / "models"
        self._identity = f"rapidocr {version('rapidocr')} models sha256:{_models_digest(root)}"

    @classmethod
    def shared(cls) -> RapidEngine:
        """One engine per process: loading the models costs ~0.3 s."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def identity(self) -> str:
        return self._identity

    def read(self, image: NDArray[np.uint8]) -> list[TextBox]:
        result = self._engine(np.ascontiguousarray(image))
        if result.boxes is None or result.txts is None:
            return []
        return [
            TextBox(box_of_points(points), str(text), float(score))
            for points, text, score in zip(result.boxes, result.txts, result.scores, strict=False)
        ]

"""The always-on burned-in text flag: which images may carry text in their pixels.

A header-only judgement, cheap enough for every file (no pixel is decoded). Burned In
Annotation (0028,0301) = YES is one reason among several, and NO or absent is never trusted
alone: in the corpus all six ultrasound files lack the attribute, yet five show an institution,
a date, a time, a patient ID or a name. The classes and image types named here are those that
usually carry text: ultrasound, secondary captures and screen saves, scanned documents,
derived/secondary images, multi-frame cines and video.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from veil.pixels.model import BurnedInRisk, RiskReason

_US = "1.2.840.10008.5.1.4.1.1.6."  # Ultrasound Image Storage (6.1), Enhanced (6.2)
_US_OTHER = {
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image Storage
    "1.2.840.10008.5.1.4.1.1.3",  # retired
    "1.2.840.10008.5.1.4.1.1.6",  # retired
}
_SC = {
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
}
_DOCUMENTS = {
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.104.2",  # Encapsulated CDA
    "1.2.840.10008.5.1.4.1.1.104.3",  # Encapsulated STL
    "1.2.840.10008.5.1.4.1.1.104.4",  # Encapsulated OBJ
    "1.2.840.10008.5.1.4.1.1.104.5",  # Encapsulated MTL
}
_VIDEO_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.77.1.1.1",  # Video Endoscopic
    "1.2.840.10008.5.1.4.1.1.77.1.2.1",  # Video Microscopic
    "1.2.840.10008.5.1.4.1.1.77.1.4.1",  # Video Photographic
}
# MPEG-2, MPEG-4 and HEVC transfer syntaxes: 1.2.840.10008.1.2.4.100 to .108.
_VIDEO_SYNTAX = "1.2.840.10008.1.2.4.10"
_CINE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic
    "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic
    "1.2.840.10008.5.1.4.1.1.12.1.1",  # Enhanced XA
    "1.2.840.10008.5.1.4.1.1.12.2.1",  # Enhanced XRF
}
_CINE_TIMING = ("FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate")
_SCREEN_TYPES = {"SCREEN SAVE", "SCREENSHOT", "SCREEN CAPTURE", "VOLREN", "DOSE INFO", "DOSE"}
_CONVERSION_SCREEN = {"WSD", "SD", "SI"}  # workstation, scanned document, scanned image


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, None)
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value).upper()
    return str(value).strip().upper()


def _frames(ds: Dataset) -> int:
    try:
        return int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        return 1


def burned_in_risk(ds: Dataset) -> BurnedInRisk:
    """Why ``ds`` may carry burned-in text; no reasons means no known risk (never "clean")."""
    reasons: list[RiskReason] = []
    sop_class = _text(ds, "SOPClassUID")
    modality = _text(ds, "Modality")
    image_type = [part.strip() for part in _text(ds, "ImageType").split("\\")]
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""

    if _text(ds, "BurnedInAnnotation") == "YES":
        reasons.append(RiskReason.BURNED_IN_ANNOTATION)
    if sop_class.startswith(_US) or sop_class in _US_OTHER or modality in ("US", "IVUS"):
        reasons.append(RiskReason.ULTRASOUND)
    if sop_class in _SC or (modality == "OT" and "PixelData" in ds):
        reasons.append(RiskReason.SECONDARY_CAPTURE)
    if _SCREEN_TYPES.intersection(image_type) or _text(ds, "ConversionType") in _CONVERSION_SCREEN:
        reasons.append(RiskReason.SCREEN_SAVE)
    if sop_class in _DOCUMENTS or modality == "DOC" or "EncapsulatedDocument" in ds:
        reasons.append(RiskReason.DOCUMENT)
    if len(image_type) >= 2 and image_type[0] == "DERIVED" and image_type[1] == "SECONDARY":
        reasons.append(RiskReason.DERIVED_SECONDARY)
    if sop_class in _VIDEO_CLASSES or syntax.startswith(_VIDEO_SYNTAX):
        reasons.append(RiskReason.VIDEO)
    elif _frames(ds) > 1 and (
        sop_class in _CINE_CLASSES
        or RiskReason.ULTRASOUND in reasons
        or any(keyword in ds for keyword in _CINE_TIMING)
    ):
        reasons.append(RiskReason.CINE)
    return BurnedInRisk(tuple(reasons))


def declared_clean(ds: Dataset) -> bool:
    """The output says its pixels were cleaned: Burned In Annotation NO and code 113101."""
    if _text(ds, "BurnedInAnnotation") != "NO":
        return False
    codes = ds.get("DeidentificationMethodCodeSequence", None) or []
    return any(str(item.get("CodeValue", "")) == "113101" for item in codes)


def unclean_risk(ds: Dataset) -> BurnedInRisk:
    """For the audit of an output: its risk, unless veil declared its pixels cleaned."""
    if declared_clean(ds):
        return BurnedInRisk()
    return burned_in_risk(ds)

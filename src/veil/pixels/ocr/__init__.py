"""OCR engines behind one interface: the primary (RapidOCR) finds text, the second (tesseract)
verifies. Both run fully offline: RapidOCR's PP-OCR ONNX models ship inside its wheel and
tesseract's English model comes from Debian. Heavy imports happen on first use only."""

from veil.pixels.ocr.base import OcrEngine, OcrUnavailableError, TextBox
from veil.pixels.ocr.guard import guard

__all__ = ["OcrEngine", "OcrUnavailableError", "TextBox", "guard", "primary", "secondary"]


def primary() -> OcrEngine:
    """The engine that finds text to remove (RapidOCR, one thread)."""
    from veil.pixels.ocr.rapid import RapidEngine

    return RapidEngine.shared()


def secondary() -> OcrEngine:
    """The second engine, for verification (tesseract on upscaled strips)."""
    from veil.pixels.ocr.tesseract import TesseractEngine

    return TesseractEngine.shared()

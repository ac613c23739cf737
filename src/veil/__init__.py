"""veil: de-identify DICOM studies without breaking their processing."""

__version__ = "0.1.0"

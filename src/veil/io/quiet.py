"""Silencing pydicom's value warnings: they quote element values, which may identify someone."""

from __future__ import annotations

import logging
import warnings

from pydicom import config


def silence_value_warnings() -> None:
    """Stop pydicom from logging or warning about element values (invariant: no value in logs).

    pydicom's validation warnings quote the offending value ("Invalid value for VR PN: ...");
    veil reports problems itself, by tag and file, without values.
    """
    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*(VR|value|length).*")
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)

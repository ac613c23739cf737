"""pydicom's process-wide settings, set once per process at each entry point.

pydicom's configuration and Python's warning filters are global to a process. veil sets them
in one place, `configure_process`, called where a process starts doing veil's work: the CLI
(`veil ...`, which includes `veil serve`), each worker process of a pool (`veil.parallel`),
and the console's server. Library functions never change them.
"""

from __future__ import annotations

import logging
import warnings

from pydicom import config


def configure_process() -> None:
    """Stop pydicom from validating, logging or warning about element values (invariant 8:
    no value in logs). Calling it again changes nothing.

    pydicom's validation warnings quote the offending value ("Invalid value for VR PN: ...");
    veil reports problems itself, by tag and file, without values. Reading stays tolerant
    (IGNORE) because veil checks what it needs itself and names the problem without the value.
    """
    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*(VR|value|length).*")
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)

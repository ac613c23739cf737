"""The node's logging: veil's own lines as written, everything else reduced to value-free text.

veil's loggers (``veil.*``) never format a received value into a message (invariant 8). Other
libraries do: pynetdicom logs exceptions whose text can quote a dataset, pydicom warns with the
offending value ("Invalid value for VR UI: '1.2.03.4'"). Before this, one study with a leading
zero in a UID component put 34 such lines in the node's log. So every record that does not come
from veil is cut to the words before anything that may quote a value (`value_free_text`), its
traceback dropped, and Python warnings are routed through logging to get the same treatment.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback

from veil.errors import value_free_text
from veil.io.quiet import configure_process


class ValueFreeFilter(logging.Filter):
    """Rewrites records from outside veil so they cannot carry a received value."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "veil" or record.name.startswith("veil."):
            return True
        text = value_free_text(Exception(record.getMessage()), 160) or "(message withheld)"
        if record.exc_info and record.exc_info[0] is not None:
            text += f" ({record.exc_info[0].__name__})"
        record.msg = text
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def configure_node_logging(level: str) -> None:
    """Log to stderr at ``level``, value-free; called once by `veil serve`."""
    configure_process()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ValueFreeFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level, logging.INFO))
    # pynetdicom logs peers' identifiers at DEBUG and some values at INFO: keep it quiet.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    logging.captureWarnings(True)  # warnings go through the filter too
    threading.excepthook = _thread_exception


def _thread_exception(args: threading.ExceptHookArgs) -> None:
    """A thread died (in pynetdicom, say): its type and where, never its message or locals."""
    if args.exc_type is SystemExit:
        return
    where = ""
    if args.exc_traceback is not None:
        last = traceback.extract_tb(args.exc_traceback)[-1]
        where = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
    name = args.thread.name if args.thread is not None else "a thread"
    logging.getLogger("veil.node").error(
        "%s stopped on an unexpected %s%s", name, args.exc_type.__name__, where
    )

"""The audit: proves an output holds no identifying value of its input (DESIGN, invariant 1).

``audit_output`` is what ``veil deid`` runs on every file it writes (a file with an error
finding is quarantined) and what ``veil audit`` runs on each paired input and output.
``prepare`` + ``audit_prepared`` split it for callers that de-identify in place: collect the
input's values first, de-identify, then audit the output.
"""

from __future__ import annotations

from veil.audit.auditor import Prepared, audit_output, audit_prepared, prepare
from veil.audit.findings import Finding, Kind, Severity

__all__ = ["Finding", "Kind", "Prepared", "Severity", "audit_output", "audit_prepared", "prepare"]

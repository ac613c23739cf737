"""The UID grammar, checked wherever a UID could become part of a path or leave the node.

PS3.5 9.1: components of digits separated by dots, at most 64 characters. A leading zero in a
component is not conformant but common in the wild and harmless: tolerated. What matters is
that a value passing this check can never be a path (``/tmp/x``, ``../x``, ``..``).
"""

from __future__ import annotations

import re

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
UID_MAX_LENGTH = 64


def valid_uid(value: str) -> bool:
    """Whether ``value`` is a UID by the grammar."""
    return 0 < len(value) <= UID_MAX_LENGTH and _UID.fullmatch(value) is not None

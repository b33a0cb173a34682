"""NCT IDs: validate and normalise before anything is sent or stored."""

from __future__ import annotations

import re

from regsync.errors import InvalidNctId

# The registry's own pattern (OpenAPI spec: ^[Nn][Cc][Tt]0*[1-9]\d{0,7}$): NCT and up to eight
# significant digits, any case. Canonical form is NCT + 8 zero-padded digits.
_NCT_RE = re.compile(r"^[Nn][Cc][Tt]0*([1-9]\d{0,7})$")


def normalize_nct_id(value: str) -> str:
    """Return the canonical form of an NCT ID: ``nct7240987`` -> ``NCT07240987``."""
    match = _NCT_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise InvalidNctId(value)
    return f"NCT{int(match.group(1)):08d}"


def is_nct_id(value: str) -> bool:
    try:
        normalize_nct_id(value)
    except InvalidNctId:
        return False
    return True

"""NCT IDs: validate and normalise before anything is sent or stored."""

from __future__ import annotations

import re

from regsync.errors import InvalidNctId

# NCT and at most eight digits, not all zeros, any case. Canonical form is NCT + 8 zero-padded
# digits. The registry's own pattern (OpenAPI spec: ^[Nn][Cc][Tt]0*[1-9]\d{0,7}$) also takes
# any number of leading zeros, so a 9-digit typo whose first digit is 0 (NCT072409870 for
# NCT07240987) would silently name another study: more than 8 digits is refused like any other.
_NCT_RE = re.compile(r"^[Nn][Cc][Tt](?=\d{1,8}$)0*([1-9]\d{0,7})$")


# NCT and digits, of which the pattern above refuses two kinds: say which, since "up to 8
# digits" reads as wrong to someone who typed eight.
_DIGITS_RE = re.compile(r"^[Nn][Cc][Tt](\d+)$")


def normalize_nct_id(value: str) -> str:
    """Return the canonical form of an NCT ID: ``nct7240987`` -> ``NCT07240987``."""
    match = _NCT_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise InvalidNctId(value, _why(value) if isinstance(value, str) else None)
    return f"NCT{int(match.group(1)):08d}"


def _why(value: str) -> str | None:
    digits = _DIGITS_RE.match(value.strip())
    if not digits:
        return None
    significant = digits.group(1).lstrip("0")
    if not significant:
        return ("NCT00000000 does not exist (the registry numbers studies from NCT00000001); "
                "8 digits are fine, e.g. NCT07240987")
    return f"{len(digits.group(1))} digits after NCT; at most 8 (e.g. NCT07240987)"


def is_nct_id(value: str) -> bool:
    try:
        normalize_nct_id(value)
    except InvalidNctId:
        return False
    return True

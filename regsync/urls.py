"""The API base URL: what regsync accepts as one, and how any URL is shown without secrets.

Kept apart from regsync.client (and its HTTP stack) because every command validates
``--api-url``, read commands included, and those must not pay for importing requests.
"""

from __future__ import annotations

import re

from regsync import DEFAULT_API_URL

# urllib.parse (and the ipaddress it imports) is imported where a URL is taken apart, not by
# every command.

# ``scheme://user:password@`` anywhere in a text (an exception message quoting a URL, say).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/?#@\s]*@")


def check_api_url(value: str) -> str:
    """``value`` if it can be the API's base URL; ValueError with the reason otherwise.

    The path is not checked (a mirror may serve the API elsewhere than /api/v2): an answer
    that is not the API is told apart by the client when it asks ``/version``.
    """
    if value == DEFAULT_API_URL:  # every command checks it: a read command spares urllib.parse
        return value
    from urllib.parse import urlsplit

    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError("a URL cannot contain spaces or other whitespace")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("expected an http:// or https:// URL, e.g. https://clinicaltrials.gov/api/v2")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.query or value.endswith("?"):
        raise ValueError("the URL cannot have a query (?...): regsync adds its own parameters")
    if parts.fragment or "#" in value:
        raise ValueError("the URL cannot have a fragment (#...)")
    return value


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """(the URL without ``user:password@``, the credentials or None).

    The client sends the credentials as HTTP basic auth and keeps only the bare URL, so no
    URL it prints, logs or stores can carry them.
    """
    from urllib.parse import SplitResult, unquote, urlsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = SplitResult(parts.scheme, hostport, parts.path, parts.query, parts.fragment).geturl()
    return bare, (unquote(user), unquote(password))


def redact_url(text: str) -> str:
    """``text`` with the credentials of any URL in it replaced by ``***``: for every URL (or
    message quoting one) that is printed, logged or stored."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) of a URL, lower-cased and without credentials: what a redirect
    must keep to be followed."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port is None or port == default else f"{host}:{port}"
    return parts.scheme.lower(), netloc


REGISTRY = "https://clinicaltrials.gov"


def study_url(nct_id: str) -> str:
    """The study's page on the registry."""
    return f"{REGISTRY}/study/{nct_id}"


def history_url(nct_id: str, a: int | None = None, b: int | None = None) -> str:
    """The study's history tab; with the registry's version numbers as its website counts them
    (1-based: 1 is the registration), ``a`` alone opens that version and ``a`` with ``b`` the
    compare view of ``a`` against ``b``. The one place that knows the website's addresses
    (feed, report, outcomes)."""
    url = f"{study_url(nct_id)}?tab=history"
    if a is not None:
        url += f"&a={a}"
        if b is not None:
            url += f"&b={b}"
    return url

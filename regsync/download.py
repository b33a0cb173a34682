"""Downloading the registry's bulk file (``regsync seed --download``).

``GET {api}/studies/download?format=json.zip`` answers the whole registry as one zip (about
2.5 GB). It is streamed to disk a chunk at a time (never held in memory) with the client's
identity (User-Agent, credentials in the API URL) and timeout, to ``PATH.part``, and becomes
``PATH`` only once it is whole: as many bytes as the server's Content-Length said, and a
central directory that reads to its end. A download cut short is a DownloadFailed (one line)
and leaves nothing behind, so no seed ever reads half a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import requests

from regsync import bulkzip
from regsync.client import USER_AGENT, ApiClient, ClientConfig
from regsync.errors import FetchError
from regsync.urls import split_credentials

DOWNLOAD_PATH = "/studies/download"
CHUNK = 2**20

OnBytes = Callable[[int, int | None], None]  # (bytes received, Content-Length if given)


class DownloadFailed(FetchError):
    """The bulk file could not be downloaded whole; nothing of it is kept."""


@dataclass(frozen=True)
class Downloaded:
    path: str
    url: str  # what answered (without credentials)
    data_timestamp: str | None  # the API's dataTimestamp just before the download
    size: int


def download(config: ClientConfig, path: str, *, on_bytes: OnBytes | None = None) -> Downloaded:
    """Download the bulk file to ``path``. The API's /version first: a wrong --api-url is
    NotTheApi before gigabytes are asked for, and its dataTimestamp dates the file."""
    api = ApiClient(config)
    stamp = api.get_version().get("dataTimestamp")
    base, credentials = split_credentials(config.api_url.rstrip("/"))
    url = f"{base}{DOWNLOAD_PATH}?format=json.zip"
    part = path + ".part"
    http = requests.Session()
    # identity: Content-Length then counts the bytes written, and the zip is compressed already.
    http.headers.update({"User-Agent": USER_AGENT, "Accept": "application/zip", "Accept-Encoding": "identity"})
    received = 0
    try:
        try:
            with http.get(url, stream=True, timeout=config.timeout, auth=credentials) as response:
                if response.status_code != 200:
                    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
                    raise DownloadFailed(f"{url}: HTTP {response.status_code}{': ' + text if text else ''}; nothing seeded")
                length = response.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                with open(part, "wb") as out:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
                        received += len(chunk)
                        if on_bytes:
                            on_bytes(received, expected)
        except requests.RequestException as exc:
            raise DownloadFailed(
                f"the download was interrupted after {_mb(received)} ({_short(exc)}); nothing seeded"
            ) from None
        if expected is not None and received != expected:
            raise DownloadFailed(
                f"the download ended after {_mb(received)} of {_mb(expected)}; nothing seeded"
            )
        try:
            bulkzip.survey(part)
        except bulkzip.BadZip as exc:
            raise DownloadFailed(f"the downloaded file is not a complete zip ({exc}); nothing seeded") from None
        os.replace(part, path)
    except BaseException:
        try:
            os.remove(part)
        except FileNotFoundError:
            pass
        raise
    return Downloaded(path, url, stamp if isinstance(stamp, str) else None, received)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:159] + "…"

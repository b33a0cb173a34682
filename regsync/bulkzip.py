"""Reading the registry's bulk download (a zip of one JSON file per study) member by member.

The standard library's ``zipfile`` reads the whole central directory into one ``ZipInfo``
per member before the first member can be read: for the registry's ~600,000 members that is
362 MB and 7 s (measured on 600,000 empty members), past the 300 MB a seed may use. Here the
central directory is streamed: ``members`` yields one entry at a time, ``read`` inflates one
member, so memory stays at one member whatever the size of the archive.

Deflate and stored members, zip64 (the registry's file has more than 65,535 members), data
descriptors. A zip without a readable end of central directory (a truncated download) is
``BadZip`` before anything is read; a member that cannot be read (its data corrupt, an
unsupported method, too large for a study record) is ``BadMember``: it costs only itself.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, NamedTuple

from zlib_ng import zlib_ng  # zlib's API, inflating in half the time

_INFLATE_ERROR: type[Exception] = zlib_ng.error  # type: ignore[assignment]  # (its stub calls it an instance)

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # central directory file header
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header
_EOCD_SIG, _LOCATOR_SIG, _ZIP64_SIG = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
_CENTRAL_SIG, _LOCAL_SIG = b"PK\x01\x02", b"PK\x03\x04"
_MAX_COMMENT = 0xFFFF
_STORED, _DEFLATED = 0, 8
_CHUNK = 1 << 20  # central directory reads


class BadZip(Exception):
    """The file is not a complete zip archive (truncated, not a zip, its directory broken)."""


class BadMember(Exception):
    """One member cannot be read; the others can."""


@dataclass(frozen=True)
class Directory:
    """Where the central directory is, and how many members it lists."""

    count: int
    offset: int
    size: int
    file_size: int


class Member(NamedTuple):  # a tuple: a frozen dataclass cost more than parsing the entry
    number: int  # 0, 1, ... in central directory order
    name: str
    method: int
    flags: int
    crc: int
    compressed: int
    size: int
    offset: int  # of the local header
    dos_time: int = 0
    dos_date: int = 0

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def modified(self) -> datetime | None:
        """When the member was written (no time zone: the zip format has none); None when
        the archive does not say (the format's zero, 1980-01-01)."""
        d, t = self.dos_date, self.dos_time
        try:
            when = datetime((d >> 9) + 1980, (d >> 5) & 0xF, d & 0x1F, t >> 11, (t >> 5) & 0x3F, (t & 0x1F) * 2)
        except ValueError:
            return None
        return None if when <= datetime(1980, 1, 1, 0, 0, 0) else when


def directory(f: BinaryIO) -> Directory:
    """The central directory's place, from the end records (zip64 when present). BadZip when
    the file has none: a download cut short ends before them."""
    f.seek(0, os.SEEK_END)
    file_size = f.tell()
    tail_size = min(file_size, _EOCD.size + _MAX_COMMENT + _ZIP64_LOCATOR.size)
    f.seek(file_size - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(_EOCD_SIG)
    while at >= 0 and at + _EOCD.size > len(tail):
        at = tail.rfind(_EOCD_SIG, 0, at)
    if at < 0:
        raise BadZip("no end of central directory: the file is truncated or not a zip")
    _, disk, _, _, count, size, offset, _ = _EOCD.unpack_from(tail, at)
    if disk != 0:
        raise BadZip("a multi-part zip; give the whole archive in one file")
    if at >= _ZIP64_LOCATOR.size and tail[at - _ZIP64_LOCATOR.size : at - _ZIP64_LOCATOR.size + 4] == _LOCATOR_SIG:
        _, _, z64_at, _ = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        f.seek(z64_at)
        record = f.read(_ZIP64_EOCD.size)
        if len(record) < _ZIP64_EOCD.size or record[:4] != _ZIP64_SIG:
            raise BadZip("its zip64 end of central directory is missing or broken")
        fields = _ZIP64_EOCD.unpack(record)
        count, size, offset = fields[7], fields[8], fields[9]
    if offset + size > file_size:
        raise BadZip("its central directory lies past the end of the file (truncated)")
    return Directory(count, offset, size, file_size)


def members(f: BinaryIO, where: Directory) -> Iterator[Member]:
    """Every member in central directory order, read in chunks (one entry in memory at a
    time). BadZip when the directory does not hold ``where.count`` well-formed entries."""
    f.seek(where.offset)
    buffer, pos, left = b"", 0, where.size
    for index in range(where.count):
        if left and len(buffer) - pos < _CENTRAL.size + 0xFFFF * 3:
            more = f.read(min(_CHUNK, left))
            if not more:
                raise BadZip("its central directory is cut short (truncated)")
            left -= len(more)
            buffer, pos = buffer[pos:] + more, 0
        if len(buffer) - pos < _CENTRAL.size:
            raise BadZip(f"its central directory ends after {index:,} of {where.count:,} members")
        (sig, _, _, flags, method, dos_time, dos_date, crc, compressed, size, name_len, extra_len, comment_len,
         _, _, _, offset) = _CENTRAL.unpack_from(buffer, pos)
        if sig != _CENTRAL_SIG:
            raise BadZip(f"its central directory is broken at member {index + 1:,}")
        start = pos + _CENTRAL.size
        end = start + name_len + extra_len + comment_len
        if end > len(buffer):
            raise BadZip(f"its central directory ends inside member {index + 1:,}")
        raw_name = buffer[start : start + name_len]
        try:
            name = raw_name.decode("ascii")  # every registry name; cp437's codec is slow Python
        except UnicodeDecodeError:
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        if 0xFFFFFFFF in (compressed, size, offset):
            size, compressed, offset = _zip64_sizes(buffer[start + name_len : start + name_len + extra_len],
                                                    size, compressed, offset)
        pos = end
        yield Member(index, name, method, flags, crc, compressed, size, offset, dos_time, dos_date)


def _zip64_sizes(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, at)
        if tag == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        at += 4 + length
    return size, compressed, offset


def read(f: BinaryIO, member: Member, *, limit: int) -> bytes:
    """A member's bytes, inflated and checked against its CRC-32. BadMember when they cannot
    be had (the zip's directory is fine, this member is not), or would exceed ``limit``."""
    if member.flags & 0x1:
        raise BadMember("encrypted")
    if member.method not in (_STORED, _DEFLATED):
        raise BadMember(f"compression method {member.method} is not supported")
    if member.size > limit:
        raise BadMember(f"{member.size:,} bytes, more than a study record can be")
    f.seek(member.offset)
    header = f.read(_LOCAL.size)
    if len(header) < _LOCAL.size or header[:4] != _LOCAL_SIG:
        raise BadMember("its local header is missing (corrupt zip)")
    fields = _LOCAL.unpack(header)
    f.seek(fields[9] + fields[10], os.SEEK_CUR)
    data = f.read(member.compressed)
    if len(data) < member.compressed:
        raise BadMember("its data is cut short (corrupt zip)")
    if member.method == _DEFLATED:
        inflater = zlib_ng.decompressobj(-15)
        try:
            data = inflater.decompress(data, limit + 1)
        except _INFLATE_ERROR as exc:
            raise BadMember(f"its data does not inflate ({exc})") from None
        if len(data) > limit:
            raise BadMember(f"it inflates to more than {limit:,} bytes")
    if len(data) != member.size or zlib_ng.crc32(data) != member.crc:
        raise BadMember("its data does not match its checksum (corrupt zip)")
    return data


@dataclass(frozen=True)
class Survey:
    """What one pass over the central directory says of an archive."""

    identity: str  # its size and a hash of every member's name, checksum and sizes
    count: int
    newest: datetime | None  # the newest member's time, if the members carry any


def survey(path: str | os.PathLike[str]) -> Survey:
    """The archive's identity for resuming (a copy or a renamed file is the same archive, a
    newer download another) and its newest member's time, from a pass over its whole central
    directory: a directory broken anywhere is BadZip here, before any member is used."""
    newest = (0, 0)
    with open(path, "rb") as f:
        where = directory(f)
        for m in members(f, where):
            if (m.dos_date, m.dos_time) > newest:
                newest = (m.dos_date, m.dos_time)
        digest = hashlib.sha256()
        f.seek(where.offset)
        left = where.size
        while left:  # every member's name, checksum, sizes and place
            chunk = f.read(min(_CHUNK, left))
            digest.update(chunk)
            left -= len(chunk)
    last = Member(0, "", 0, 0, 0, 0, 0, 0, newest[1], newest[0]).modified
    return Survey(f"{where.file_size}:{digest.hexdigest()[:32]}", where.count, last)

"""The audit's journal on local disk: every delta is appended here before any client can see it,
and stays until its rows are committed, so a crash or a database that is away loses nothing.

A journal is a directory of segment files, one JSON delta per line. The process writing a segment
holds an exclusive lock on it (`flock`); a segment nobody holds belongs to a process that stopped
before its rows were written, and the next process to start on the same database writes them.

Lines are written together, with one `writev(2)` per segment, in a callback scheduled when the
first of them is appended. The event loop runs callbacks in the order they were scheduled, and a
delta reaches a client (or Redis) only through a task woken after its line was appended, so every
line is in the kernel's page cache before its delta leaves the process: it survives the process
being killed (not the machine losing power), and a delta that was never sent may be lost with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
_SUFFIX = ".jsonl"


@dataclass(slots=True, eq=False)
class Segment:
    """One journal file: lines appended, lines whose rows are committed (or dead-lettered)."""

    path: Path
    fd: int
    appended: int = 0
    written: int = 0
    # No more lines go to this one; it is removed once every line is written.
    sealed: bool = False
    _size: int = field(default=0, repr=False)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.path.name

    @property
    def done(self) -> bool:
        return self.sealed and self.written >= self.appended


def journal_directory(root: Path, database_url: str) -> Path:
    """One directory per database, so a journal left behind is only ever written where it belongs."""
    return root / hashlib.sha256(database_url.encode()).hexdigest()[:16]


class AuditJournal:
    def __init__(self, directory: Path, segment_bytes: int = 64 * 1024 * 1024):
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.current: Segment | None = None
        self._count = 0
        # Lines appended and not yet written, in order, with their segments.
        self._unwritten: list[tuple[Segment, bytes]] = []

    def append(self, line: bytes) -> tuple[Segment, int]:
        """Journal one line (without its newline) before the caller's next await; its segment and
        1-based line number."""
        segment = self.current
        if segment is None or segment._size >= self.segment_bytes:
            if segment is not None:
                segment.sealed = True
            segment = self.current = self._open()
        segment._size += len(line) + 1
        segment.appended += 1
        if not self._unwritten:
            try:
                asyncio.get_running_loop().call_soon(self.write)
            except RuntimeError:
                self._unwritten.append((segment, line))
                self.write()
                return segment, segment.appended
        self._unwritten.append((segment, line))
        return segment, segment.appended

    def write(self) -> None:
        """Write every appended line to its segment's file."""
        unwritten, self._unwritten = self._unwritten, []
        start = 0
        while start < len(unwritten):
            segment = unwritten[start][0]
            end = start
            while end < len(unwritten) and unwritten[end][0] is segment:
                end += 1
            _write_all(segment.fd, [part for _, line in unwritten[start:end] for part in (line, _NEWLINE)])
            start = end

    def seal(self) -> None:
        """The current segment takes no more lines (the next line starts a new one)."""
        if self.current is not None:
            self.current.sealed = True
            self.current = None

    def remove(self, segment: Segment) -> None:
        """Every line of `segment` is written: the file goes, then its lock."""
        with contextlib.suppress(OSError):
            segment.path.unlink()
        self.close(segment)

    @staticmethod
    def close(segment: Segment) -> None:
        with contextlib.suppress(OSError):
            os.close(segment.fd)

    def orphans(self) -> Iterator[tuple[Segment, list[bytes]]]:
        """Segments no running process holds, oldest first, each locked for this process, with their
        lines. A last line cut short (a full disk) is left out."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            data = path.read_bytes()
            lines = data.split(b"\n")
            if lines and lines[-1]:
                log.warning("journal %s ends in a partial line (%d bytes); it is skipped", path, len(lines[-1]))
            lines = lines[:-1]
            segment = Segment(path, fd, appended=len(lines), sealed=True, _size=len(data))
            yield segment, lines

    def _open(self) -> Segment:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._count += 1
        # Names sort by creation: recovered segments are written oldest first.
        path = self.directory / f"{time.time_ns():020d}-{os.getpid()}-{self._count}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return Segment(path, fd)


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """writev until every byte is written (a regular file may take fewer bytes than asked)."""
    views = [memoryview(chunk) for chunk in chunks]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + _IOV_MAX])
        while written:
            if written >= len(views[first]):
                written -= len(views[first])
                first += 1
            else:
                views[first] = views[first][written:]
                written = 0


_IOV_MAX = 1024
_NEWLINE = b"\n"

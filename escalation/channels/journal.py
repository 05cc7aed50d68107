"""`file`: an append-only JSON-lines journal (one `message.to_json` document per line).

Opened with O_APPEND per send (concurrent writers never interleave within a line), created
0600 (it holds log content; one found more open is tightened), fsync'ed before the send counts
as delivered.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from detector.state.private import private_dirs, tighten_fd
from escalation.channels.message import to_json
from escalation.channels.notification import ChannelError, Notification
from escalation.channels.spec import SpecReader

DEFAULT_NAME = "journal.jsonl"
_PERMANENT = {errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR, errno.ELOOP}


@dataclass(frozen=True)
class FileChannel:
    name: str
    path: Path
    kind: str = field(default="file", init=False)

    def send(self, note: Notification) -> None:
        data = (to_json(note) + "\n").encode("utf-8")
        try:
            private_dirs(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                tighten_fd(fd, self.path)  # a journal found at 0644 is made private (and reported)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ChannelError(
                f"file channel {self.name!r}: cannot append to {self.path}: {exc.strerror or exc}",
                retryable=exc.errno not in _PERMANENT,
            ) from None


def build(name: str, reader: SpecReader, state_dir: Path) -> FileChannel:
    reader.check_keys("file", {"path"})
    path = reader.path("path", "/var/lib/logwarden/notifications.jsonl")
    return FileChannel(name, path or state_dir / DEFAULT_NAME)

"""The optional bearer token of the inference port, read from a file (a mounted Kubernetes Secret).

A file rather than an environment variable: a Secret mounted as a volume is updated in place when
it is rotated (an environment variable keeps its value until the pod is replaced), it does not
show in the process environment of every child, and `kubectl describe pod` shows neither. The
token never appears in a log line or an answer; messages name the file only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import stat
from pathlib import Path

log = logging.getLogger("server")

# RFC 6750's b68token: what may follow "Bearer " in an Authorization header.
_TOKEN = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")
MAX_TOKEN_BYTES = 4096
REALM = b'Bearer realm="model-server"'


class TokenFileError(Exception):
    """AUTH_TOKEN_FILE cannot be used; the message names the file, never its content."""


# A token, and room for the line ending `kubectl create secret --from-file` may keep.
_MAX_FILE_BYTES = MAX_TOKEN_BYTES + 2


def _read_bounded(path: Path) -> bytes:
    """At most _MAX_FILE_BYTES + 1 bytes of `path`, which must be a regular file once symlinks
    are followed (a Secret volume's file is a symlink). Anything else - /dev/zero, a FIFO, a
    directory - is refused before a byte is read: reading it could fill the memory or block the
    event loop forever. O_NONBLOCK keeps the open of a FIFO from waiting for a writer."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise TokenFileError(f"AUTH_TOKEN_FILE {path}: cannot read it ({error.strerror or error})") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise TokenFileError(f"AUTH_TOKEN_FILE {path}: not a regular file (a device, pipe or directory)")
        chunks: list[bytes] = []
        size = 0
        while size <= _MAX_FILE_BYTES and (chunk := os.read(descriptor, _MAX_FILE_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise TokenFileError(f"AUTH_TOKEN_FILE {path}: cannot read it ({error.strerror or error})") from None
    finally:
        os.close(descriptor)
    return b"".join(chunks)


def _read_token(path: Path) -> bytes:
    raw = _read_bounded(path)
    if len(raw) > _MAX_FILE_BYTES:
        raise TokenFileError(
            f"AUTH_TOKEN_FILE {path}: larger than {_MAX_FILE_BYTES} bytes; a bearer token is at most {MAX_TOKEN_BYTES}"
        )
    token = raw.strip()
    if not token:
        raise TokenFileError(f"AUTH_TOKEN_FILE {path}: the file is empty")
    if len(token) > MAX_TOKEN_BYTES or not _TOKEN.fullmatch(token):
        raise TokenFileError(
            f"AUTH_TOKEN_FILE {path}: not a bearer token (at most {MAX_TOKEN_BYTES} of A-Z a-z 0-9 - . _ ~ + / "
            "followed by any '=')"
        )
    return token


def _stamp(path: Path) -> tuple[int, int, int]:
    # stat follows the symlink a Secret volume swaps on update, so a rotation changes the inode.
    status = os.stat(path)
    return status.st_ino, status.st_mtime_ns, status.st_size


class BearerToken:
    """The expected token. `check` compares SHA-256 digests with hmac.compare_digest: constant
    time, and the same length whatever the client sends, so timing reveals neither."""

    def __init__(self, path: Path) -> None:
        """Raises TokenFileError when the file is missing, empty or not a token."""
        self.path = path
        self._stamp = _stamp_or_none(path)
        self._digest = hashlib.sha256(_read_token(path)).digest()

    def reload_if_changed(self) -> None:
        """Re-read the file if it changed; a bad new file keeps the old token and logs one line,
        once per change of the file (not once per request with a wrong token)."""
        stamp = _stamp_or_none(self.path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            digest = hashlib.sha256(_read_token(self.path)).digest()
        except TokenFileError as error:
            log.warning("%s; keeping the previous token", error)
            return
        if digest != self._digest:
            self._digest = digest
            log.info("bearer token reloaded from AUTH_TOKEN_FILE %s", self.path)

    def check(self, authorization: bytes | None) -> bool:
        """True when `authorization` (the header's value) is `Bearer <the token>`."""
        if authorization is None:
            return False
        scheme, _, token = authorization.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        digest = hashlib.sha256(token.strip()).digest()
        if hmac.compare_digest(digest, self._digest):
            return True
        # The client may hold a token rotated since the last periodic check: look at the file again
        # (a stat; a read only if it changed) before refusing.
        self.reload_if_changed()
        return hmac.compare_digest(digest, self._digest)


def _stamp_or_none(path: Path) -> tuple[int, int, int] | None:
    try:
        return _stamp(path)
    except OSError:
        return None

"""Reading and writing training artifacts under a URI through fsspec.

`file://` URIs and plain paths go to the local filesystem; `s3://` and `gs://` go to s3fs and
gcsfs, which take credentials from the usual places (IRSA or AWS_* variables; workload identity
or GOOGLE_APPLICATION_CREDENTIALS).
"""

from __future__ import annotations

import posixpath
import re
import uuid

import fsspec
from fsspec.implementations.local import LocalFileSystem

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
CHECKPOINT_DIR = "checkpoints"
_CHECKPOINT_RE = re.compile(r"epoch-(\d+)\.pt$")


def checkpoint_name(epoch: int) -> str:
    """Relative path of the checkpoint written after `epoch` (1-based) finished."""
    return f"{CHECKPOINT_DIR}/epoch-{epoch:04d}.pt"


class ArtifactStore:
    """A directory of artifacts at `uri`; all names passed to it are relative to that root."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs, root = fsspec.core.url_to_fs(uri)
        self.root = root.rstrip("/")
        self._local = isinstance(self.fs, LocalFileSystem)

    def _path(self, name: str) -> str:
        return posixpath.join(self.root, name)

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write `name` so that readers see either the old content or all of the new.

        Local files are written to a temporary name and renamed. Object stores make a single
        PUT visible all at once, so they are written in place.
        """
        path = self._path(name)
        if not self._local:
            self.fs.pipe_file(path, data)
            return
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        temporary = f"{path}.tmp-{uuid.uuid4().hex}"
        self.fs.pipe_file(temporary, data)
        self.fs.mv(temporary, path)

    def read_bytes(self, name: str) -> bytes:
        """Return the content of `name`; raises FileNotFoundError when it does not exist."""
        return self.fs.cat_file(self._path(name))

    def exists(self, name: str) -> bool:
        self.fs.invalidate_cache()
        return self.fs.exists(self._path(name))

    def checkpoints(self) -> list[tuple[int, str]]:
        """Return `(epoch, name)` for every checkpoint, newest first."""
        # s3fs and gcsfs cache listings; another run may have written since the last one.
        self.fs.invalidate_cache()
        found = []
        for path in self.fs.glob(self._path(f"{CHECKPOINT_DIR}/epoch-*.pt")):
            match = _CHECKPOINT_RE.search(path)
            if match:
                found.append((int(match.group(1)), checkpoint_name(int(match.group(1)))))
        return sorted(found, reverse=True)

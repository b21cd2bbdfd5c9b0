"""Reading and writing training artifacts under a URI through fsspec.

`file://` URIs and plain paths go to the local filesystem; `s3://` and `gs://` go to s3fs and
gcsfs, which take credentials from the usual places (IRSA or AWS_* variables; workload identity
or GOOGLE_APPLICATION_CREDENTIALS). Any failure to reach the location is an `ArtifactError`
whose message is one line naming the file, the URI and the cause.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from typing import cast

import fsspec  # type: ignore[import-untyped]  # fsspec ships no type hints
from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]  # fsspec ships no type hints

from mltrain.storage_uri import location_problem

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
RUN_FILE = "run.json"
CHECKPOINT_DIR = "checkpoints"
_CHECKPOINT_RE = re.compile(r"epoch-(\d+)\.pt$")


def output_uri_problem(uri: str) -> str | None:
    """Why `uri` is not an --output-uri the trainer supports (one line naming the flag), or None
    when it is: the rule the server's MODEL_URI follows too (mltrain.storage_uri)."""
    problem = location_problem(uri)
    return None if problem is None else f"--output-uri {problem}"


class ArtifactError(Exception):
    """The output location cannot be read or written; the message is one line saying why."""


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def checkpoint_name(epoch: int) -> str:
    """Relative path of the checkpoint written after `epoch` (1-based) finished."""
    return f"{CHECKPOINT_DIR}/epoch-{epoch:04d}.pt"


class ArtifactStore:
    """A directory of artifacts at `uri`; all names passed to it are relative to that root."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        try:
            self.fs, root = fsspec.core.url_to_fs(uri)
        except Exception as error:  # noqa: BLE001 - each fsspec backend raises its own types; reported as one line
            raise ArtifactError(f"cannot open {self.uri}: {_one_line(error)}") from None
        self.root = cast(str, root).rstrip("/")
        self._local = isinstance(self.fs, LocalFileSystem)

    def _path(self, name: str) -> str:
        return posixpath.join(self.root, name)

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write `name` so that readers see either the old content or all of the new.

        Local files are written to a temporary name and renamed. Object stores make a single
        PUT visible all at once, so they are written in place.
        """
        path = self._path(name)
        try:
            if not self._local:
                self.fs.pipe_file(path, data)
                return
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
            temporary = f"{path}.tmp-{uuid.uuid4().hex}"
            self.fs.pipe_file(temporary, data)
            self.fs.mv(temporary, path)
        except Exception as error:  # noqa: BLE001 - permissions, a full disk, credentials: any backend's type
            raise ArtifactError(f"cannot write {name} under {self.uri}: {_one_line(error)}") from None

    def read_bytes(self, name: str) -> bytes:
        """Return the content of `name`; raises FileNotFoundError when it does not exist."""
        return cast(bytes, self.fs.cat_file(self._path(name)))

    def read_if_exists(self, name: str) -> bytes | None:
        """Return the content of `name`, None when it does not exist; ArtifactError otherwise."""
        try:
            return self.read_bytes(name)
        except FileNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001 - permissions, credentials: any backend's type
            raise ArtifactError(f"cannot read {name} under {self.uri}: {_one_line(error)}") from None

    def exists(self, name: str) -> bool:
        try:
            self.fs.invalidate_cache()
            return bool(self.fs.exists(self._path(name)))
        except Exception as error:  # noqa: BLE001 - permissions, credentials: any backend's type
            raise ArtifactError(f"cannot look for {name} under {self.uri}: {_one_line(error)}") from None

    def artifacts(self) -> list[str]:
        """Which of the files a run writes after run.json are here: model.onnx, metadata.json and
        the number of checkpoints (as `N checkpoints`); empty for a new output."""
        found = [name for name in (MODEL_FILE, METADATA_FILE) if self.exists(name)]
        if checkpoints := self.checkpoints():
            found.append(f"{len(checkpoints)} checkpoint{'s' if len(checkpoints) > 1 else ''}")
        return found

    def checkpoints(self) -> list[tuple[int, str]]:
        """Return `(epoch, name)` for every checkpoint, newest first."""
        try:
            # s3fs and gcsfs cache listings; another run may have written since the last one.
            self.fs.invalidate_cache()
            paths = cast(list[str], self.fs.glob(self._path(f"{CHECKPOINT_DIR}/epoch-*.pt")))
        except Exception as error:  # noqa: BLE001 - permissions, credentials: any backend's type
            raise ArtifactError(f"cannot list {CHECKPOINT_DIR}/ under {self.uri}: {_one_line(error)}") from None
        found = []
        for path in paths:
            match = _CHECKPOINT_RE.search(path)
            if match:
                found.append((int(match.group(1)), checkpoint_name(int(match.group(1)))))
        return sorted(found, reverse=True)

"""A content digest of a Docker build context, used as the image tag.

Registries with immutable tags (ECR here) reject a second push of a tag, so the tag must change
exactly when the image's inputs change. Files that `.dockerignore` excludes are not hashed.
"""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path, PurePath, PureWindowsPath

TAG_LENGTH = 16


def _ignore_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.exists():
        return []
    lines = (line.strip() for line in ignore_file.read_text().splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """`.dockerignore` semantics for the forms we use: globs, `**/` prefixes, `!` exceptions, last match wins."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern[1:] if negated else pattern
        candidates = {glob, glob.removeprefix("**/")}
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, candidate) for candidate in candidates for prefix in prefixes) or (
            glob.startswith("**/") and any(fnmatch.fnmatchcase(part, glob[3:]) for part in parts)
        ):
            ignored = not negated
    return ignored


def context_digest(context: Path, dockerfile: str = "Dockerfile") -> str:
    """Hex digest of every file the build can see (path and content), plus the Dockerfile.
    A context without its Dockerfile raises FileNotFoundError: an empty digest would be a lie."""
    if not (context / dockerfile).is_file():
        raise FileNotFoundError(f"no {dockerfile} in build context {context}")
    patterns = _ignore_patterns(context)
    digest = hashlib.sha256()
    files = sorted(path for path in context.rglob("*") if path.is_file())
    for path in files:
        relative = path.relative_to(context).as_posix()
        if _ignored(relative, patterns) and relative != dockerfile:
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:TAG_LENGTH]


def containment_problem(root: Path, relative: str, *, inside: str = "the repository") -> str | None:
    """Why `relative` (a path from `root`, as a stack file gives it) does not stay inside `root`, or
    None. Absolute paths and `..` are refused as written; symlinks are followed, so a link that
    leads out of `root` is refused too. The build would otherwise send, and the image bake in,
    files from anywhere on the machine that runs `pulumi up`."""
    path = PurePath(relative)
    if path.is_absolute() or PureWindowsPath(relative).is_absolute() or relative.startswith("~"):
        return f"must be a path relative to {inside}, not an absolute one"
    if ".." in path.parts or ".." in PureWindowsPath(relative).parts:
        return f"must stay inside {inside}: '..' is not allowed"
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return f"must stay inside {inside}: it is a symlink that leads to {resolved}"
    return None

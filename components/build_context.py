"""A content digest of a Docker build context, used as the image tag; and what config validation
checks of a build before anything is built (the context stays in the repository, the Dockerfile's
stages).

Registries with immutable tags (ECR here) reject a second push of a tag, so the tag must change
exactly when the image's inputs change. Files that `.dockerignore` excludes are not hashed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
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


# The parser directive `# escape=` plus a backtick (before any instruction) makes the backtick the
# line continuation character instead of the backslash.
_ESCAPE_DIRECTIVE = re.compile(r"#[ \t]*escape[ \t]*=[ \t]*(?P<escape>[\\`])[ \t]*", re.IGNORECASE)
_DIRECTIVE = re.compile(r"#[ \t]*[a-z]+[ \t]*=.*", re.IGNORECASE)
# `RUN <<EOF`, `COPY <<-"EOT" /dst`: the body, up to the terminator's line, is not instructions.
_HEREDOC = re.compile(r"<<-?(?P<quote>[\"']?)(?P<word>[A-Za-z_][A-Za-z0-9_]*)(?P=quote)")


def _escape_character(lines: list[str]) -> str:
    """The line continuation character: `\\` unless a parser directive at the top says otherwise."""
    for line in lines:
        directive = _ESCAPE_DIRECTIVE.fullmatch(line.strip())
        if directive:
            return directive["escape"]
        if not _DIRECTIVE.fullmatch(line.strip()):
            break
    return "\\"


def _instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments and heredoc bodies left out."""
    lines = text.splitlines()
    escape = _escape_character(lines)
    instructions: list[str] = []
    current = ""
    heredoc_ends: list[str] = []
    for line in lines:
        if heredoc_ends:
            if line.strip() == heredoc_ends[0]:
                heredoc_ends.pop(0)
            continue
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith(escape):
            current += stripped[: -len(escape)] + " "
            continue
        instructions.append(current + stripped)
        current = ""
        heredoc_ends = [match["word"] for match in _HEREDOC.finditer(instructions[-1])]
    return [*instructions, current] if current else instructions


def dockerfile_stages(dockerfile: Path) -> list[str]:
    """The stage names of a Dockerfile (`FROM [--platform=...] <image> AS <name>`), in order, as
    written; Docker compares them with `--target` ignoring case. Raises OSError if unreadable."""
    stages = []
    for instruction in _instructions(dockerfile.read_text(encoding="utf-8", errors="replace")):
        words = instruction.split()
        if not words or words[0].upper() != "FROM":
            continue
        arguments = [word for word in words[1:] if not word.startswith("--")]
        if len(arguments) >= 3 and arguments[1].upper() == "AS":
            stages.append(arguments[2])
    return stages

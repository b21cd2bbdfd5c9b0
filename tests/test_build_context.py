"""Tier 1: image tags follow build-context content, as immutable-tag registries need."""

from __future__ import annotations

import pytest

from components.build_context import context_digest, dockerfile_stages


def _context(tmp_path, ignore: str = ""):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app.py").write_text("print('hi')\n")
    if ignore:
        (tmp_path / ".dockerignore").write_text(ignore)
    return tmp_path


def test_same_content_same_tag(tmp_path):
    context = _context(tmp_path)
    assert context_digest(context) == context_digest(context)


def test_changed_file_changes_the_tag(tmp_path):
    context = _context(tmp_path)
    before = context_digest(context)
    (context / "app.py").write_text("print('bye')\n")
    assert context_digest(context) != before


def test_renamed_file_changes_the_tag(tmp_path):
    context = _context(tmp_path)
    before = context_digest(context)
    (context / "app.py").rename(context / "main.py")
    assert context_digest(context) != before


def test_ignored_files_do_not_change_the_tag(tmp_path):
    context = _context(tmp_path, "**/__pycache__\n*.log\ntests/\n")
    before = context_digest(context)
    (context / "__pycache__").mkdir()
    (context / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (context / "run.log").write_text("noise")
    (context / "tests").mkdir()
    (context / "tests" / "test_app.py").write_text("x")
    assert context_digest(context) == before


def test_exceptions_to_ignore_rules_count(tmp_path):
    context = _context(tmp_path, "*.md\n!README.md\n")
    before = context_digest(context)
    (context / "NOTES.md").write_text("ignored")
    assert context_digest(context) == before
    (context / "README.md").write_text("kept")
    assert context_digest(context) != before


def test_allowlist_style_ignore_files(tmp_path):
    """`*` then `!kept/`: only the allowed files (and the Dockerfile) count, as in images/*/.dockerignore."""
    context = _context(tmp_path, "*\n!app.py\n!pkg/\n**/__pycache__\n")
    (context / "pkg").mkdir()
    (context / "pkg" / "module.py").write_text("x = 1\n")
    before = context_digest(context)
    (context / "scratch.txt").write_text("not sent to the builder")
    (context / "pkg" / "__pycache__").mkdir()
    (context / "pkg" / "__pycache__" / "module.pyc").write_bytes(b"\0")
    assert context_digest(context) == before
    (context / "pkg" / "module.py").write_text("x = 2\n")
    assert context_digest(context) != before
    (context / "Dockerfile").write_text("FROM scratch\nUSER 1\n")
    assert context_digest(context) != before


def test_a_context_without_its_dockerfile_is_an_error(tmp_path):
    """A missing or mistyped context must fail, never hash to the digest of nothing."""
    with pytest.raises(FileNotFoundError, match="no Dockerfile"):
        context_digest(tmp_path / "no-such-dir")
    with pytest.raises(FileNotFoundError, match=r"no Dockerfile\.gpu"):
        context_digest(_context(tmp_path), "Dockerfile.gpu")


def test_dockerfile_stages_are_the_named_from_instructions(tmp_path):
    """Flags, continuation lines, comments and heredoc bodies are Docker's syntax, not stages."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=python:3.11\n"
        "FROM --platform=$BUILDPLATFORM ${BASE} AS Build\n"
        "RUN <<EOF\n"
        "FROM scratch AS not-a-stage\n"
        "EOF\n"
        "from scratch as tools\n"
        "FROM \\\n"
        "  # a comment inside the instruction\n"
        "  scratch \\\n"
        "  AS runtime\n"
        "FROM runtime\n"
    )
    assert dockerfile_stages(dockerfile) == ["Build", "tools", "runtime"]


def test_dockerfile_stages_follow_the_escape_directive(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("# escape=`\nFROM scratch `\n  AS windows\n")
    assert dockerfile_stages(dockerfile) == ["windows"]

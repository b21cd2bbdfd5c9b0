"""Markdown that shows text as written: what the tools put in a pull-request comment or the README
comes partly from a render and a price file a pull request may have written, so every such text
is escaped, and a name never becomes HTML, a link, a mention or an extra table cell."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]<>|&~@]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\$(?!\d)")
"""Characters that start markup in GitHub Markdown: `_` only where it can start emphasis (not inside
a word, as in artifact_bucket_gb), `$` only where it can start math (not before a price's digits)."""


def _visible(value: str) -> str:
    """Control characters (a newline would end a table row) written as \\xNN."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", value)


def text(value: str) -> str:
    """`value` as Markdown that shows it as written, in prose or in a table cell."""
    return _MARKDOWN_SPECIAL.sub(lambda match: "\\" + match.group(), _visible(value))


def code(value: str, *, in_table: bool = False) -> str:
    """`value` as an inline code span: markup inside shows as written. The fence is one backtick
    longer than any run of backticks inside; in a table cell a pipe is escaped (GitHub ends the cell
    at a bare one, even inside a code span, and drops the backslash)."""
    text = _visible(value)
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padded = f" {text} " if not text or text[0] in " `" or text[-1] in " `" else text
    return f"{fence}{padded}{fence}"

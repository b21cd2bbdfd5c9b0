"""Which model locations the images support: the rule for the trainer's --output-uri and the
server's MODEL_URI, which name the same place.

Each image is built from its own directory, so this file is kept twice, word for word:
images/trainer/mltrain/storage_uri.py and images/server/mlserve/storage_uri.py.
tests/images/test_images_units.py holds the two copies equal and checks that both images accept
and refuse the same URIs.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SUPPORTED_LOCATIONS = "file:///absolute/path, a local path, s3://bucket/prefix or gs://bucket/prefix"
"""What a model location may be, in words, for error messages."""
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_SCHEMES = ("file", "s3", "gs")


def location_problem(uri: str) -> str | None:
    """Why `uri` is not a model location the images support, or None when it is. The reason
    starts with the URI (or "is empty") and ends with the supported forms: the caller puts the
    flag or variable in front.

    Checked before any work, so that a typo never reads or writes a surprising place: an empty
    value (the working directory), a character that is not printable (str.isprintable: controls,
    format characters such as a byte-order mark or a zero-width space, separators other than the
    space), `s3:/bucket` (a local folder named `s3:`), a scheme fsspec
    would reach over the network (`http://`, `ftp://`), or one it does not know in upper case
    (`S3://`). `file://localhost/abs` is refused too: fsspec reads it as the relative path
    `localhost/abs`. A relative local path whose first part contains a colon reads as a scheme:
    write it as `./a:b`.
    """
    use = f"use {SUPPORTED_LOCATIONS}"
    if not uri.strip():
        return f"is empty; {use}"
    # Not only controls: a byte-order mark, a zero-width space or U+0085 is as invisible in a
    # manifest or a log, and names another place than the one the reader sees.
    unprintable = next((char for char in uri if not char.isprintable()), None)
    if unprintable is not None:
        return f"{uri!r} has a character that is not printable in it ({unprintable!a}); {use}"
    if uri != uri.strip():
        return f"{uri!r} has spaces around it; {use}"
    match = _SCHEME_RE.match(uri)
    if match is None:
        return None  # a local path
    scheme = match.group(1)
    if scheme.lower() in _SCHEMES and scheme not in _SCHEMES:
        return f"{uri!r}: write the scheme in lower case ({scheme.lower()}://...), as fsspec knows it; {use}"
    if scheme not in _SCHEMES:
        return f"{uri!r}: scheme {scheme!r} is not supported; {use}"
    if not uri[match.end() :].startswith("//"):
        return f"{uri!r} is not a URI ({scheme}: must be followed by //); {use}"
    parts = urlsplit(uri)
    if scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            return f"{uri!r} is not a local file URI (file:///absolute/path, with three slashes); {use}"
    elif not parts.netloc:
        return f"{uri!r} names no bucket; {use}"
    return None

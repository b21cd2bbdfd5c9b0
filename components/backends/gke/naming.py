"""Names and labels in the forms Google Cloud accepts, derived from the stack and logical names."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from components import labels

_INVALID = re.compile(r"[^a-z0-9_-]")
MAX_LABEL_LENGTH = 63


def sanitize(value: str) -> str:
    """A label key or value: lower-case letters, digits, '_' and '-', at most 63 characters."""
    return _INVALID.sub("-", value.lower())[:MAX_LABEL_LENGTH]


def gcp_labels(component: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The project's cloud tags (`components.labels`) as Google Cloud labels."""
    return {sanitize(key): sanitize(value) for key, value in labels.cloud_tags(component, extra).items()}


def service_account_id(stack: str, name: str) -> str:
    """A Google service account ID (6-30 characters: a letter first, then lower-case letters, digits
    and '-') that is readable and unique per stack and name: `<name, cut>-<hash of stack and name>`."""
    digest = hashlib.sha256(f"{stack}\0{name}".encode()).hexdigest()[:6]
    stem = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:23].rstrip("-")
    if not stem[:1].isalpha():
        stem = f"ml-{stem}"[:23].rstrip("-")
    return f"{stem}-{digest}"


def repository_id(stack: str) -> str:
    """An Artifact Registry repository ID (lower-case letters, digits and '-', a letter first),
    unique per stack of a project: `ml-<stack>`."""
    return re.sub(r"[^a-z0-9-]", "-", f"ml-{stack}".lower())[:63].rstrip("-")

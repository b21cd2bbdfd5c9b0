"""Kubernetes' grammar of label keys and values (and of the names built like them), as every
backend's settings check it: one validator for EKS's and GKE's GPU pool labels and an existing
cluster's GPU node selector, so the rules cannot drift. Pure: no Pulumi import (the labels the
platform itself puts on nodes are in `node_labels`, which imports the contract).

Every pattern is ASCII and matched whole (`fullmatch`): `re.match` with `$` lets a trailing
newline through, and Python's `\\d` and `\\w` match other scripts' digits and letters, which
the API server refuses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator

from components.schema import matching

DNS_SUBDOMAIN = r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
"""A DNS-1123 subdomain: what a label key's prefix, a StorageClass or a resource's domain is."""
LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
"""A label's name part, and a non-empty label value."""
LABEL_KEY = re.compile(rf"({DNS_SUBDOMAIN}/)?{LABEL_NAME}")
LABEL_VALUE = re.compile(rf"({LABEL_NAME})?")
LABEL_KEY_ALLOWED = (
    "[<DNS subdomain>/]<name>, the name 1-63 letters, digits, '-', '_' or '.', starting and ending "
    "with a letter or digit"
)
LABEL_VALUE_ALLOWED = "empty, or 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"


def check_labels(labels: dict[str, str], reserved_prefixes: Sequence[str] = ()) -> dict[str, str]:
    """Every key and value valid, and no key the platform (or the cloud) sets itself."""
    for key, value in labels.items():
        if not LABEL_KEY.fullmatch(key):
            raise ValueError(f"label key {key!r} is not a Kubernetes label key: {LABEL_KEY_ALLOWED}")
        if key.startswith(tuple(reserved_prefixes)):
            raise ValueError(f"label key {key!r} is reserved (prefixes {', '.join(reserved_prefixes)})")
        if not LABEL_VALUE.fullmatch(value):
            raise ValueError(f"label value {value!r} of {key!r} is not a Kubernetes label value: {LABEL_VALUE_ALLOWED}")
    return labels


def labels_validator(reserved_prefixes: Sequence[str] = ()) -> AfterValidator:
    """A pydantic validator of a `dict[str, str]` of labels (see `check_labels`)."""
    return AfterValidator(lambda labels: check_labels(labels, reserved_prefixes))


Labels = Annotated[dict[str, str], labels_validator()]
"""Labels to select or set, none of them reserved (an existing cluster's GPU node selector)."""
LabelKey = Annotated[str, matching(LABEL_KEY.pattern, f"must be a Kubernetes label key: {LABEL_KEY_ALLOWED}")]
"""A label key, or a taint's key (the same grammar)."""
LabelValue = Annotated[str, matching(LABEL_VALUE.pattern, f"must be a Kubernetes label value: {LABEL_VALUE_ALLOWED}")]
"""A label value, or a taint's value (the same grammar)."""

"""The GKE backend's schema of `ml-platform:ci` (the generic one in `components.ci`, narrowed to what
Google credentials reach). Pure pydantic, for the backend table; the identity is in `ci_identity`."""

from __future__ import annotations

import re
from typing import ClassVar, Self

from pydantic import Field, field_validator, model_validator

from components.ci import CiSettings

SUBJECT_LIMIT_BYTES = 127
"""Google's limit on `google.subject`, which the provider maps from GitHub's `sub` claim."""
_POOL_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,30}[a-z0-9]")


class GcpCiSettings(CiSettings):
    """`ml-platform:ci` of a GKE stack: a workload identity pool and provider, and two service accounts."""

    state_schemes: ClassVar[tuple[str, ...]] = ("https", "gs")
    secrets_schemes: ClassVar[tuple[str, ...]] = ("gcpkms",)

    workload_identity_pool_id: str | None = Field(
        default=None,
        description=(
            "ID of the pool this stack creates (4-32 lower-case letters, digits or '-'). Default: github-<stack>. "
            "A deleted pool keeps its ID for 30 days: set another to re-create the stack sooner."
        ),
    )

    @field_validator("workload_identity_pool_id")
    @classmethod
    def _pool_id(cls, value: str | None) -> str | None:
        if value is not None and (not _POOL_ID.fullmatch(value) or value.startswith("gcp-")):
            raise ValueError("must be 4-32 lower-case letters, digits or '-', not starting with gcp- (Google's)")
        return value

    @model_validator(mode="after")
    def _subjects_fit(self) -> Self:
        # Without deployEnvironments the deploy subject names the stack, which only the program
        # knows: the identity checks that one when it is built.
        configured = self.deploy_subjects(stack="") if self.deploy_environments is not None else ()
        check_subjects((*self.preview_subjects(), *configured))
        return self


def check_subjects(subjects: tuple[str, ...]) -> None:
    """Google refuses a token whose mapped `google.subject` is longer than its limit."""
    for subject in subjects:
        if len(subject.encode()) > SUBJECT_LIMIT_BYTES:
            raise ValueError(
                f"GitHub's subject {subject!r} is over Google's {SUBJECT_LIMIT_BYTES}-byte limit on "
                "google.subject: use a shorter deployBranch or deployEnvironments name"
            )

"""The EKS backend's schema of `ml-platform:ci` (the generic one in `components.ci`, narrowed to what
AWS credentials reach, plus the account's existing GitHub OIDC provider). Pure pydantic: the
backend table imports it; the identity itself is built in `ci_identity`."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator

from components.ci import GITHUB_OIDC_HOST, CiSettings

_PROVIDER_ARN = re.compile(rf"arn:aws[a-z-]*:iam::[0-9]{{12}}:oidc-provider/{re.escape(GITHUB_OIDC_HOST)}")


class AwsCiSettings(CiSettings):
    """`ml-platform:ci` of an EKS stack: an OIDC provider and two IAM roles (preview, deploy)."""

    state_schemes: ClassVar[tuple[str, ...]] = ("https", "s3")
    secrets_schemes: ClassVar[tuple[str, ...]] = ("awskms",)

    oidc_provider_arn: str | None = Field(
        default=None,
        description=(
            "The account's GitHub OIDC provider, when it already exists (an account has one per URL, so a "
            "second stack in the account reuses the first's `ciOidcProviderArn`). Default: this stack creates it."
        ),
    )

    @field_validator("oidc_provider_arn")
    @classmethod
    def _provider_arn(cls, value: str | None) -> str | None:
        if value is not None and not _PROVIDER_ARN.fullmatch(value):
            raise ValueError(
                f"must be the ARN of the account's GitHub OIDC provider, "
                f"arn:aws:iam::<12-digit account>:oidc-provider/{GITHUB_OIDC_HOST}"
            )
        return value

"""Schema of the optional `ml-platform:ci` stack object: who in GitHub Actions may preview and deploy
the stack, and where its state lives. Pure pydantic, no cloud SDK: validating a stack stays cheap.

A cluster backend that builds a CI identity declares its own subclass in its row of the backend
table (`ClusterBackend.ci`): it narrows the state backends and secrets providers to those its
cloud's credentials can reach and may add cloud-specific keys (the EKS one: an existing OIDC
provider to reuse). The identity itself is built by the backend (`ci_identity.py` in its package).

GitHub's OIDC token (docs.github.com, "OpenID Connect reference") names the job in its `sub` claim,
by default `repo:<owner>/<name>:` followed by, in this order of precedence,
`environment:<name>` (a job that runs in an environment), `pull_request` (a pull_request event),
or `ref:<git ref>`. The subjects below are built from that format, and nothing else: no wildcard
ever, so another repository, a fork or another branch never matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

from pydantic import AfterValidator, Field, StrictBool, model_validator

from components.schema import Schema

GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST = GITHUB_OIDC_ISSUER.removeprefix("https://")

# GitHub's rules: an owner is 1-39 letters, digits or single hyphens, not at either end; a
# repository name is 1-100 letters, digits, '.', '_' or '-', not '.' or '..'.
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
_REPOSITORY_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
# Stricter than git and GitHub allow, on purpose: these values go verbatim into trust policies
# and principal identifiers, so nothing that could act as a separator or a wildcard gets in.
_BRANCH = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9._-]{1,255}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


def _repository(value: str) -> str:
    owner, slash, name = value.partition("/")
    if not slash or not _OWNER.fullmatch(owner) or not _REPOSITORY_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            "must be a GitHub repository as OWNER/NAME, exactly as GitHub spells it (e.g. acme/ml-platform): "
            "owner 1-39 letters, digits or single '-'; name 1-100 letters, digits, '.', '_' or '-'; no wildcard"
        )
    if name.lower().endswith(".git"):
        raise ValueError("must be OWNER/NAME without the .git of a clone URL")
    return value


def _branch(value: str) -> str:
    if (
        not _BRANCH.fullmatch(value)
        or ".." in value
        or value.endswith(".lock")
        or value.startswith("refs/")
        or len(value) > 255
    ):
        raise ValueError(
            "must be a branch name such as main or release/v1 (without refs/heads/): letters, digits, "
            "'.', '_', '-' and '/' between parts; no wildcard"
        )
    return value


def _environment(value: str) -> str:
    if not _ENVIRONMENT.fullmatch(value):
        raise ValueError(
            "must be a GitHub environment name of 1-255 letters, digits, '.', '_' or '-' (no wildcard), "
            "spelt as the workflow's `environment:` names it"
        )
    return value


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError(f"must not repeat an environment: {values}")
    return values


Repository = Annotated[str, AfterValidator(_repository)]
Branch = Annotated[str, AfterValidator(_branch)]
Environment = Annotated[str, AfterValidator(_environment)]


# --- Where the state lives -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StateBackend:
    """A self-managed Pulumi backend (`s3://bucket/prefix`): the bucket and the prefix the state is under."""

    scheme: str
    bucket: str
    prefix: str
    """Without leading or trailing '/'; empty for the bucket's root. Pulumi keeps everything under
    `<prefix>/.pulumi/` (stacks, locks, history, backups)."""

    def object_prefix(self, *parts: str) -> str:
        """`<prefix>/.pulumi/<parts...>`, the key prefix of Pulumi's own objects."""
        return "/".join(part for part in (self.prefix, ".pulumi", *parts) if part)


@dataclass(frozen=True, kw_only=True)
class SecretsKey:
    """The key of a stack's KMS secrets provider (`awskms://...`, `gcpkms://...`)."""

    scheme: str
    key: str
    """What follows the scheme: `alias/NAME`, a key id or ARN (awskms); the key's resource name (gcpkms)."""
    region: str | None
    """`?region=` of an awskms URL, if any."""


def parse_state_backend(url: str) -> StateBackend | None:
    """The bucket backend a `PULUMI_BACKEND_URL` names, or None for a Pulumi Cloud (https) backend."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return None
    return StateBackend(scheme=parts.scheme, bucket=parts.netloc, prefix=parts.path.strip("/"))


def parse_secrets_provider(url: str) -> SecretsKey:
    scheme, _, rest = url.partition("://")
    key, _, query = rest.partition("?")
    region = parse_qs(query).get("region", [None])[0]
    return SecretsKey(scheme=scheme, key=key.lstrip("/"), region=region)


_STATE_ALLOWED = (
    "a Pulumi backend URL: https://api.pulumi.com (or your Pulumi Cloud), or a bucket as SCHEME://BUCKET[/PREFIX]"
)


def _state_backend_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme == "https":
        if not parts.netloc:
            raise ValueError(f"must be {_STATE_ALLOWED}")
        return value
    if parts.scheme == "file":
        raise ValueError("a local file backend cannot be reached from CI: use a bucket or Pulumi Cloud")
    prefix = parts.path.strip("/")
    if not parts.scheme or not _BUCKET.fullmatch(parts.netloc) or (prefix and not _PREFIX.fullmatch(prefix)):
        raise ValueError(f"must be {_STATE_ALLOWED}; bucket and prefix of letters, digits, '.', '_', '-', '/'")
    return value


def _secrets_provider(value: str) -> str:
    scheme, separator, rest = value.partition("://")
    if not separator or not scheme or not rest.partition("?")[0].lstrip("/"):
        raise ValueError(
            "must be the stack's KMS secrets provider as `pulumi stack init --secrets-provider` takes it, "
            "e.g. awskms://alias/ml-platform-pulumi?region=us-west-2 or "
            "gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K"
        )
    return value


# --- The schema --------------------------------------------------------------------------------


class CiSettings(Schema):
    """The CI identity of a cloud stack: the roles (AWS) or service accounts (GCP) that GitHub
    Actions assumes by OIDC to preview and deploy it (docs/ci.md, "Bootstrap the CI identity")."""

    state_schemes: ClassVar[tuple[str, ...]] = ("https", "s3", "gs", "azblob")
    """URL schemes of `stateBackendUrl` this cloud's credentials can read; a backend's subclass narrows it."""
    secrets_schemes: ClassVar[tuple[str, ...]] = ("awskms", "gcpkms", "azurekeyvault", "hashivault")
    """Schemes of `secretsProvider` this cloud's credentials can decrypt with."""

    github_repository: Repository = Field(
        description="The one repository trusted, OWNER/NAME exactly as GitHub spells it (trust is case-sensitive)."
    )
    deploy_branch: Branch = Field(
        default="main",
        description=(
            "The branch that deploys (default main). Its runs without an environment (the scheduled drift "
            "check) may use the read-only identity; deploys are tied to it by the environments' branch rule."
        ),
    )
    deploy_environments: Annotated[list[Environment], Field(min_length=1), AfterValidator(_unique)] | None = Field(
        default=None,
        description=(
            "GitHub environments whose jobs may assume the deploy identity; default: one named like the stack "
            "(the deploy workflow runs in `environment: <stack>`)."
        ),
    )
    pull_request_preview: StrictBool = Field(
        default=True,
        description=(
            "Pull requests from the repository's own branches may assume the read-only identity (default true). "
            "Forks get no OIDC token from GitHub either way."
        ),
    )
    state_backend_url: Annotated[str, AfterValidator(_state_backend_url)] | None = Field(
        default=None,
        description=(
            "The repository variable PULUMI_BACKEND_URL; a bucket here gets read (preview) and write (deploy) "
            "grants. Default: none (Pulumi Cloud, reached with PULUMI_ACCESS_TOKEN)."
        ),
    )
    secrets_provider: Annotated[str, AfterValidator(_secrets_provider)] | None = Field(
        default=None,
        description="The stack's KMS secrets provider; both identities may decrypt with its key. Default: none.",
    )

    @model_validator(mode="after")
    def _reachable_from_this_cloud(self) -> Self:
        problems = []
        if self.state_backend_url is not None:
            scheme = urlsplit(self.state_backend_url).scheme
            if scheme not in self.state_schemes:
                problems.append(
                    f"stateBackendUrl {self.state_backend_url!r}: this cloud's CI identity can reach "
                    f"{', '.join(s + '://' for s in self.state_schemes)} backends only"
                )
        if self.secrets_provider is not None:
            scheme = self.secrets_provider.partition("://")[0]
            if scheme not in self.secrets_schemes:
                problems.append(
                    f"secretsProvider {self.secrets_provider!r}: this cloud's CI identity can decrypt with "
                    f"{', '.join(s + '://' for s in self.secrets_schemes)} keys only"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def environments(self, stack: str) -> tuple[str, ...]:
        """The environments that may deploy: `deployEnvironments`, or the stack's name."""
        return tuple(self.deploy_environments) if self.deploy_environments is not None else (stack,)

    def preview_subjects(self) -> tuple[str, ...]:
        """`sub` claims the read-only identity trusts: the repository's pull requests (if allowed) and
        its deploy branch (the drift check runs there on a schedule)."""
        subjects = [pull_request_subject(self.github_repository)] if self.pull_request_preview else []
        return (*subjects, branch_subject(self.github_repository, self.deploy_branch))

    def deploy_subjects(self, stack: str) -> tuple[str, ...]:
        """`sub` claims the deploy identity trusts: jobs of the repository in an allowed environment."""
        return tuple(environment_subject(self.github_repository, env) for env in self.environments(stack))

    def state_backend(self) -> StateBackend | None:
        return parse_state_backend(self.state_backend_url) if self.state_backend_url is not None else None

    def secrets_key(self) -> SecretsKey | None:
        return parse_secrets_provider(self.secrets_provider) if self.secrets_provider is not None else None


def pull_request_subject(repository: str) -> str:
    return f"repo:{repository}:pull_request"


def branch_subject(repository: str, branch: str) -> str:
    return f"repo:{repository}:ref:refs/heads/{branch}"


def environment_subject(repository: str, environment: str) -> str:
    return f"repo:{repository}:environment:{environment}"

"""GitHub Actions' OIDC tokens as the clouds see them, for tests of the CI identities' trust.

`token` builds a job's claims the way GitHub documents them (docs.github.com, "OpenID Connect
reference"): the default `sub` is `repo:<owner>/<name>:` + `environment:<env>` for a job in an
environment, else `pull_request` for pull_request and pull_request_target events, else `ref:<ref>`.
`JOBS` are the jobs the stack's CI identities are for, and jobs that must never get them.
"""

from __future__ import annotations

from dataclasses import dataclass

REPOSITORY = "your-org/ml-platform"
"""The placeholder in stacks/Pulumi.prod-eks.yaml."""
ISSUER = "https://token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"


def token(
    repository: str,
    *,
    event: str,
    ref: str,
    environment: str | None = None,
    audience: str = STS_AUDIENCE,
) -> dict[str, str]:
    if environment is not None:
        context = f"environment:{environment}"
    elif event in ("pull_request", "pull_request_target"):
        context = "pull_request"
    else:
        context = f"ref:{ref}"
    claims = {
        "iss": ISSUER,
        "aud": audience,
        "sub": f"repo:{repository}:{context}",
        "repository": repository,
        "repository_owner": repository.split("/")[0],
        "ref": ref,
        "event_name": event,
    }
    if environment is not None:
        claims["environment"] = environment
    return claims


@dataclass(frozen=True)
class Job:
    name: str
    claims: dict[str, str]
    preview: bool
    """May assume the read-only identity."""
    deploy: bool
    """May assume the deploy identity."""


def pr(repository: str = REPOSITORY, event: str = "pull_request") -> dict[str, str]:
    return token(repository, event=event, ref="refs/pull/7/merge")


def on_branch(repository: str = REPOSITORY, branch: str = "main", event: str = "schedule") -> dict[str, str]:
    return token(repository, event=event, ref=f"refs/heads/{branch}")


def deploying(
    repository: str = REPOSITORY, environment: str = "prod-eks", branch: str = "main", event: str = "push"
) -> dict[str, str]:
    return token(repository, event=event, ref=f"refs/heads/{branch}", environment=environment)


def intended(environment: str) -> tuple[Job, ...]:
    """The jobs of the stack whose deploy environment is `environment`, and what each may assume."""
    return (
        Job("preview of a pull request from a branch of the repository", pr(), preview=True, deploy=False),
        Job("scheduled drift check on main", on_branch(), preview=True, deploy=False),
        Job("drift check started by hand on main", on_branch(event="workflow_dispatch"), preview=True, deploy=False),
        Job(f"deploy on push to main in environment {environment}", deploying(environment=environment), False, True),
        Job(
            "deploy started by hand from main",
            deploying(environment=environment, event="workflow_dispatch"),
            preview=False,
            deploy=True,
        ),
    )


def forged(environment: str) -> tuple[Job, ...]:
    """Jobs that must get neither identity of that stack."""
    return (
        Job("another owner's repository of the same name", pr("other-org/ml-platform"), preview=False, deploy=False),
        Job("a fork's own pull request workflow", pr("attacker/ml-platform"), preview=False, deploy=False),
        Job("a look-alike repository name", pr("your-org/ml-platform-evil"), preview=False, deploy=False),
        Job(
            "a look-alike repository's deploy",
            deploying("your-org/ml-platform-evil", environment),
            preview=False,
            deploy=False,
        ),
        Job("a look-alike repository's main", on_branch("your-org/ml-platform-evil"), preview=False, deploy=False),
        Job("a repository whose name prefixes ours", deploying("your-org/ml", environment), False, False),
        Job("our name in other case", deploying("Your-Org/ML-Platform", environment), preview=False, deploy=False),
        Job(
            "another owner's deploy to an environment of the same name",
            deploying("x/ml-platform", environment),
            False,
            False,
        ),
        Job("a push to another branch", on_branch(branch="feature", event="push"), preview=False, deploy=False),
        Job("a branch named like main's ref", on_branch(branch="main-evil", event="push"), preview=False, deploy=False),
        Job("a tag", token(REPOSITORY, event="push", ref="refs/tags/v1.0.0"), preview=False, deploy=False),
        Job("a job in another environment", deploying(environment="staging"), preview=False, deploy=False),
        Job("a token for another audience", pr() | {"aud": "https://github.com/your-org"}, preview=False, deploy=False),
    )


INTENDED = intended("prod-eks")
FORGED = forged("prod-eks")

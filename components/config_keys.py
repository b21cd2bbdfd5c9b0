"""Which `namespace:key`s a stack may set, and the closest known key to a misspelt one.

A stack's config reaches the program as `namespace:key` pairs. The program reads its own
namespace (`ml-platform:`), the provider config of the selected backend's cloud (its row's
`ProviderConfig.namespace`, e.g. `aws:` for EKS), and the namespaces below, which every stack may
carry. A key in any other namespace would do nothing (`ml-platfrom:awaitTraining: false` would
leave the default in force), so it is an error naming the closest known key.

- `pulumi:` belongs to Pulumi itself (`pulumi:tags`, `pulumi:disable-default-providers`,
  `pulumi:autonaming`); the CLI acts on it, so it is never refused here.
- `docker:` configures the default Docker provider, which builds and pushes every image on every
  backend (`docker:host` for a remote engine).
- `kubernetes:` is refused: every Kubernetes resource is given its cluster's provider explicitly
  (built from the cluster the program creates, or from the existing cluster's kubeconfig), and
  explicit providers do not read stack config.

Pure: no Pulumi import.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from components.schema import MISSING, Problem

ALWAYS_READ: Mapping[str, str] = {
    "pulumi": "Pulumi's own settings",
    "docker": "the Docker provider that builds and pushes the images",
}
NEVER_READ: Mapping[str, str] = {
    "kubernetes": (
        "has no effect: every Kubernetes resource uses its cluster's explicit provider, which reads no "
        "stack config; cluster settings go in the backend's object (ml-platform:<backend>, e.g. ml-platform:existing)"
    ),
}
SECRET_SHOWN = "[secret]"  # noqa: S105 - the mask shown in place of a secret
"""What a problem shows instead of the value of a secret key."""


def closest(word: str, candidates: Collection[str]) -> str | None:
    """The candidate most like `word` (difflib's ratio at least 0.6), if any."""
    matches = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Collection[str]) -> str:
    """`"did you mean X? "` for the closest candidate, or nothing: the start of an error's advice."""
    match = closest(word, candidates)
    return f"did you mean {match}? " if match else ""


def namespace_problems(
    raw: Mapping[str, Any],
    *,
    in_use: Mapping[str, str],
    elsewhere: Mapping[str, str],
    known_keys: Collection[str],
) -> list[Problem]:
    """A problem for each key of `raw` (`namespace:key` -> value) whose namespace nothing reads.

    `in_use`: namespace -> who reads it, for every namespace this stack's program reads.
    `elsewhere`: namespace -> when it would be read (another backend's provider).
    `known_keys`: full keys the program knows, for the "did you mean" of a misspelt one."""
    problems = []
    for full_key in sorted(raw):
        namespace, separator, _ = full_key.partition(":")
        if separator and namespace in in_use:
            continue
        value = raw[full_key]
        if namespace in NEVER_READ:
            problems.append(Problem(full_key, value, f"{namespace}:* {NEVER_READ[namespace]}"))
        elif namespace in elsewhere:
            problems.append(Problem(full_key, value, f"{namespace}:* is read only {elsewhere[namespace]}"))
        else:
            readers = ", ".join(f"{name}:* ({who})" for name, who in sorted(in_use.items()))
            problems.append(
                Problem(
                    full_key,
                    value,
                    f"unknown namespace {namespace!r}, so this key would do nothing; "
                    f"{did_you_mean(full_key, known_keys)}this stack reads {readers}",
                )
            )
    return problems


def masked(problems: Collection[Problem], secret_keys: Collection[str]) -> list[Problem]:
    """The problems with the value of every secret key (and of anything inside it) hidden."""
    if not secret_keys:
        return list(problems)
    shown = []
    for problem in problems:
        top_key = problem.key.split(".", 1)[0].split("[", 1)[0].split(" ", 1)[0]
        if problem.value is not MISSING and (top_key in secret_keys or problem.key in secret_keys):
            problem = Problem(problem.key, SECRET_SHOWN, problem.allowed)
        shown.append(problem)
    return shown

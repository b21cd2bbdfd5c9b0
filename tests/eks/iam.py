"""IAM's matching of the patterns in a policy, enough to ask what an artifact role can reach."""

from __future__ import annotations

import fnmatch
import json


def iam_matches(pattern: str, value: str) -> bool:
    """IAM's wildcard matching for ARNs and StringLike: `*` any characters, `?` exactly one."""
    return fnmatch.fnmatchcase(value, pattern)


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def reach(policy: str, bucket_arn: str) -> tuple[list[str], list[str]]:
    """(object ARN patterns, list-prefix patterns) that an artifact policy document allows."""
    objects: list[str] = []
    prefixes: list[str] = []
    for statement in json.loads(policy)["Statement"]:
        if "s3:GetObject" in _actions(statement):
            objects.append(statement["Resource"])
        if "s3:ListBucket" in _actions(statement):
            assert statement["Resource"] == bucket_arn
            prefixes += statement["Condition"]["StringLike"]["s3:prefix"]
    return objects, prefixes


def assert_scoped_to(policy: str, bucket_arn: str, model: str, other: str) -> None:
    """The policy reaches `model`'s objects and folder listings, and nothing of `other`'s, even
    when one name extends the other (digits, digits-wide)."""
    objects, prefixes = reach(policy, bucket_arn)
    own = f"models/{model}/runs/r1/model.onnx"
    foreign = f"models/{other}/runs/r1/model.onnx"
    assert any(iam_matches(pattern, f"{bucket_arn}/{own}") for pattern in objects), objects
    assert not any(iam_matches(pattern, f"{bucket_arn}/{foreign}") for pattern in objects), objects
    for allowed in (f"models/{model}/", f"models/{model}/runs/"):
        assert any(iam_matches(pattern, allowed) for pattern in prefixes), (allowed, prefixes)
    # A List with prefix `models/digits` would return `models/digits-wide/...` keys too.
    for refused in (f"models/{model}", f"models/{other}/", "models/", ""):
        assert not any(iam_matches(pattern, refused) for pattern in prefixes), (refused, prefixes)

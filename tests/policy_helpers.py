"""Test helpers for the policy pack: a mutable copy of a real render, and a runner for one rule."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel

from policy.framework import Rule
from policy.rules import ALL_RULES
from tests.rendering import Rendered
from tools.check import RuleConfig, Violation, check_document

RULES = {rule.name: rule for rule in ALL_RULES}


class Render:
    """A deep copy of a render's resources.json that a test edits, then checks."""

    def __init__(self, rendered: Rendered):
        document = json.loads((rendered.directory / "resources.json").read_text())
        self.document: dict[str, Any] = copy.deepcopy(document)

    @property
    def resources(self) -> list[dict[str, Any]]:
        resources: list[dict[str, Any]] = self.document["resources"]
        return resources

    def all(self, type_token: str) -> list[dict[str, Any]]:
        found = [r for r in self.resources if r["type"] == type_token]
        assert found, f"the render has no {type_token}"
        return found

    def one(self, type_token: str, name: str | None = None) -> dict[str, Any]:
        found = [r for r in self.all(type_token) if name is None or r["name"] == name]
        assert len(found) == 1, f"expected one {type_token} {name or ''}, found {[r['name'] for r in found]}"
        return found[0]

    def inputs(self, type_token: str, name: str | None = None) -> dict[str, Any]:
        inputs: dict[str, Any] = self.one(type_token, name)["inputs"]
        return inputs

    def pod(self, type_token: str) -> dict[str, Any]:
        """The pod spec of the one workload of this type."""
        spec = self.inputs(type_token)["spec"]
        pod: dict[str, Any] = spec["template"]["spec"]
        return pod

    def container(self, type_token: str) -> dict[str, Any]:
        container: dict[str, Any] = self.pod(type_token)["containers"][0]
        return container

    def gpu_pool(self) -> dict[str, Any]:
        """The inputs of the render's one GPU node pool (EKS or GKE)."""
        pools = [
            r
            for r in self.resources
            if (r["type"] == "aws:eks/nodeGroup:NodeGroup" and "NVIDIA" in str(r["inputs"].get("amiType")))
            or (
                r["type"] == "gcp:container/nodePool:NodePool"
                and r["inputs"].get("nodeConfig", {}).get("guestAccelerators")
            )
        ]
        assert len(pools) == 1, f"expected one GPU node pool, found {[p['name'] for p in pools]}"
        inputs: dict[str, Any] = pools[0]["inputs"]
        return inputs

    def remove(self, type_token: str, name: str | None = None) -> dict[str, Any]:
        resource = self.one(type_token, name)
        self.resources.remove(resource)
        return resource

    def add(self, resource: dict[str, Any]) -> None:
        self.resources.append(resource)

    def add_beside(self, sibling: dict[str, Any], type_token: str, name: str, inputs: dict[str, Any]) -> None:
        """A new resource with the parent, options and provider of `sibling` (its URN says so too)."""
        head, _, _ = sibling["urn"].rpartition("::")
        prefix, _, qualified = head.rpartition("::")
        parents = qualified.rpartition("$")[0]
        urn = f"{prefix}::{parents}${type_token}::{name}" if parents else f"{prefix}::{type_token}::{name}"
        self.add({**copy.deepcopy(sibling), "urn": urn, "type": type_token, "name": name, "inputs": inputs})


def add_policy_statement(statement: dict[str, Any]) -> Callable[[Render], None]:
    """A mutation: one more statement in prod-eks's training policy (an IAM policy document)."""

    def mutate(render: Render) -> None:
        inputs = render.inputs("aws:iam/policy:Policy", "digits-training-policy")
        document = json.loads(inputs["policy"])
        document["Statement"].append(statement)
        inputs["policy"] = json.dumps(document)

    return mutate


# Mandatory findings on a shipped stack that wait on a change outside the pack, as (rule, resource);
# test_shipped_stacks_pass_every_mandatory_rule requires exactly these. None now: add one only with
# the change that will close it named here.
KNOWN_FINDINGS: dict[str, list[tuple[str, str]]] = {}


def known(stack: str, violation: Violation) -> bool:
    return (violation.rule, violation.resource) in KNOWN_FINDINGS.get(stack, [])


def known_urns(render: Render, stack: str) -> list[str]:
    """URNs of the stack's known findings (the running pack names resources by URN)."""
    names = {resource.rsplit(" (", 1)[0] for _, resource in KNOWN_FINDINGS.get(stack, [])}
    return [resource["urn"] for resource in render.resources if resource["name"] in names]


def run_rule(render: Render, rule: Rule, settings: dict[str, Any] | None = None) -> list[Violation]:
    """The rule's violations, whatever its level on the render's stack (levels are tested apart)."""
    config = {rule.name: RuleConfig(level=EnforcementLevel.MANDATORY, settings=settings or {})}
    return check_document(render.document, config, rules=[rule])


@dataclass(frozen=True)
class Case:
    """One rule on one stack's real render, edited by `mutate`. `expect` None: the rule is met;
    otherwise a violation's message contains it."""

    rule: str
    stack: str
    mutate: Callable[[Render], None] | None
    expect: str | None
    settings: dict[str, Any] | None = None
    id: str = ""

    @property
    def name(self) -> str:
        outcome = "violates" if self.expect else "complies"
        return f"{self.rule}-{self.stack}-{outcome}" + (f"-{self.id}" if self.id else "")


def messages(violations: Sequence[Violation]) -> list[str]:
    return [f"{v.resource}: {v.message}" for v in violations]

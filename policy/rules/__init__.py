"""Every rule of the pack, in the order reports list them. `policy/__main__.py`, `tools/check.py`
and the tests all read `ALL_RULES`; a rule that is not here is neither run nor tested."""

from __future__ import annotations

from policy.framework import Rule
from policy.rules import gpu, images, network, pods, production, storage

PACK_NAME = "ml-platform-guardrails"

ALL_RULES: tuple[Rule, ...] = (
    *images.RULES,
    *gpu.RULES,
    *pods.RULES,
    *network.RULES,
    *storage.RULES,
    *production.RULES,
)

if len({rule.name for rule in ALL_RULES}) != len(ALL_RULES):
    raise ValueError("policy rule names must be unique")

"""The policy pack the Pulumi CLI runs: `pulumi preview --policy-pack policy`.

Declarative only: the rules, their levels and their tests live in `policy.rules`. The CLI sets
PULUMI_STACK, which picks each rule's level (stricter on `prod-*` stacks); the pack's config file
(`--policy-pack-config`) overrides levels and settings.
"""

import os
import sys
from pathlib import Path

# The CLI runs this file with the pack's own directory on sys.path; the rules are the `policy`
# package that tools/check.py and the tests import too, so its parent must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policy.rules import ALL_RULES, PACK_NAME

STACK = os.environ.get("PULUMI_STACK", "")

PolicyPack(name=PACK_NAME, policies=[rule.policy(STACK) for rule in ALL_RULES])

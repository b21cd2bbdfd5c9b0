"""The ml-platform policy pack: guardrails every stack must meet, run by `pulumi preview --policy-pack
policy` and, offline, by `python -m tools.check STACK` on the stack's render.

`policy.rules.ALL_RULES` is every rule; `policy.framework` says how a rule is declared and how its
enforcement level is chosen for a stack. The pack imports nothing from the Pulumi program, so it
runs in its own environment (`policy/requirements.txt`).
"""

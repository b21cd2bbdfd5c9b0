"""The mocks every stack's program needs: the base mocks plus each cloud's API answers."""

from __future__ import annotations

from tools.mocks import PlatformMocks


def platform_mocks() -> PlatformMocks:
    return PlatformMocks()

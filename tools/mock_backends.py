"""The mocks every stack's program needs: the base mocks plus each cloud's API answers."""

from __future__ import annotations

from tools import mocks_aws
from tools.mocks import PlatformMocks


def platform_mocks() -> PlatformMocks:
    return PlatformMocks(
        resources=dict(mocks_aws.RESOURCES), calls=dict(mocks_aws.CALLS), components=dict(mocks_aws.COMPONENTS)
    )

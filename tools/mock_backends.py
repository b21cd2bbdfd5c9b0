"""The mocks every stack's program needs: the base mocks plus each backend's API answers, from the
backend table (every backend's, so any stack renders; mocks import no cloud SDK)."""

from __future__ import annotations

import importlib

from components import backends
from tools.mocks import BackendMocks, PlatformMocks


def platform_mocks() -> PlatformMocks:
    mocks = PlatformMocks()
    for module in backends.mock_modules():
        backend_mocks = importlib.import_module(module).MOCKS
        if not isinstance(backend_mocks, BackendMocks):
            raise TypeError(f"{module}.MOCKS must be a tools.mocks.BackendMocks")
        mocks.add(backend_mocks)
    return mocks

from __future__ import annotations

import pytest

from tests.rendering import Rendered, load, render


@pytest.fixture(scope="session")
def rendered_stack(tmp_path_factory):
    """Renders each stack once per session: `rendered_stack("dev-kind")`."""
    cache: dict[str, Rendered] = {}

    def get(stack: str) -> Rendered:
        if stack not in cache:
            out = tmp_path_factory.mktemp(f"render-{stack}") / "out"
            render(stack, out)
            cache[stack] = load(out)
        return cache[stack]

    return get

"""Fixtures for the images' tests: real trainer and server processes on this machine.

The trainer runs once per session (`trained_model`) and every server test reuses its output.
Every process started here is killed in teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from images_helpers import (
    FIXTURE_EPOCHS,
    FIXTURE_SEED,
    ServerProcess,
    TrainedModel,
    run_trainer,
)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """The trainer run once, single process on CPU, default hyperparameters, FIXTURE_EPOCHS."""
    path = tmp_path_factory.mktemp("trained") / "model"
    uri = path.as_uri()
    result = run_trainer(uri, "--epochs", str(FIXTURE_EPOCHS), "--seed", str(FIXTURE_SEED))
    assert result.returncode == 0, result.stdout
    return TrainedModel(path, uri, result.stdout)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Factory: start_server(MODEL_URI=..., OTHER=...) -> a started (not yet ready) server."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(tmp_path / f"server-{len(started)}.log", **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()

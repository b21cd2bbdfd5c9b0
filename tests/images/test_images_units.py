"""Pure functions of the trainer and the server, and both ends of a non-local fsspec URI."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import numpy.typing as npt
import pytest
from mlserve.batching import MicroBatcher
from mlserve.inputs import Batch, Decoded, InputSpec, InvalidInputError, Request, TooManyInstancesError
from mlserve.metrics import Metrics
from mlserve.model import ModelLoadError, load_model
from mlserve.settings import Settings
from mltrain.artifacts import ArtifactStore, checkpoint_name
from mltrain.data import load_split, shard_indices
from mltrain.distributed import read_topology, topology_problems
from pydantic import ValidationError


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shards_cover_the_epoch_with_equal_lengths(world_size: int) -> None:
    """Every rank gets the same number of indices (DDP deadlocks otherwise) and together the
    ranks see every training image in the epoch."""
    shards = [shard_indices(1437, 11, rank, world_size) for rank in range(world_size)]
    assert len({len(s) for s in shards}) == 1
    assert set(np.concatenate(shards)) == set(range(1437))


def test_epoch_order_is_a_function_of_the_seed_only() -> None:
    """Shuffling depends on (seed, epoch) alone, so a resumed run replays the same order."""
    assert (shard_indices(100, 5, 0, 1) == shard_indices(100, 5, 0, 1)).all()
    assert not (shard_indices(100, 5, 0, 1) == shard_indices(100, 6, 0, 1)).all()
    with pytest.raises(ValueError, match="rank 2 is outside world size 2"):
        shard_indices(100, 5, 2, 2)


def test_held_out_split_is_disjoint_stratified_and_fixed() -> None:
    """The accuracy is measured on 360 images never trained on, with every digit present, and
    the split does not move between runs."""
    first, second = load_split(), load_split()
    assert len(first.train_labels) == 1437 and len(first.test_labels) == 360
    assert (first.test_images == second.test_images).all()
    train_rows = {row.tobytes() for row in first.train_images}
    overlap = sum(row.tobytes() in train_rows for row in first.test_images)
    assert overlap <= 2  # the digits data set itself contains a couple of duplicate images
    assert set(first.test_labels.tolist()) == set(range(10))


def test_learning_rate_decays_by_cosine_to_five_percent() -> None:
    """The schedule starts at the flag's value and ends at 5 % of it, decreasing in between."""
    from mltrain.training import TrainConfig, learning_rate_at

    config = TrainConfig(output_uri="memory://x", epochs=10, learning_rate=0.01)
    rates = [learning_rate_at(config, e) for e in range(1, 11)]
    assert rates[0] == pytest.approx(0.01) and rates[-1] == pytest.approx(0.0005)
    assert all(a > b for a, b in itertools.pairwise(rates))
    single = TrainConfig(output_uri="memory://x", epochs=1, learning_rate=0.01)
    assert math.isfinite(learning_rate_at(single, 1))


def test_topology_comes_from_torchrun_environment() -> None:
    """RANK, LOCAL_RANK and WORLD_SIZE default to a single process and are validated."""
    assert read_topology({}) == (0, 0, 1)
    torchrun = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
    assert read_topology({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", **torchrun}) == (3, 1, 4)
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        read_topology({"WORLD_SIZE": "two"})
    with pytest.raises(ValueError, match=r"RANK=4 must be from 0 to WORLD_SIZE-1 \(3\)"):
        read_topology({"RANK": "4", "WORLD_SIZE": "4", **torchrun})
    # Every problem at once, each naming its variable.
    assert topology_problems({"RANK": "x", "WORLD_SIZE": "0", "LOCAL_RANK": "-2"}) == [
        "environment variable RANK='x' is not an integer",
        "environment variable WORLD_SIZE=0 must be at least 1",
        "environment variable LOCAL_RANK=-2 must be at least 0",
    ]


def test_seed_and_learning_rate_bounds_are_what_torch_and_numpy_take() -> None:
    """The seed's range is torch.manual_seed's (numpy's Generator, which shuffles each epoch,
    takes any non-negative integer); the learning rate's upper bound keeps Adam's step within
    float32. Inside the bounds the run's random sources accept the values; outside they are
    refused as flags."""
    import torch
    from mltrain.training import MAX_LEARNING_RATE, MAX_SEED, TrainConfig

    for seed in (0, MAX_SEED):
        torch.manual_seed(seed)
        shard_indices(10, seed * 100_003 + 1, 0, 1)
    with pytest.raises((RuntimeError, ValueError)):
        torch.manual_seed(MAX_SEED + 1)
    assert TrainConfig(output_uri="x", seed=MAX_SEED, learning_rate=MAX_LEARNING_RATE).problems() == []
    for bad in ({"seed": -1}, {"seed": MAX_SEED + 1}, {"learning_rate": 1e300}, {"learning_rate": math.nan}):
        problems = TrainConfig(output_uri="x", **bad).problems()
        assert len(problems) == 1 and problems[0].startswith(f"--{next(iter(bad)).replace('_', '-')} must be"), problems


def test_artifact_store_on_an_object_store_filesystem() -> None:
    """Through fsspec the same code writes, reads and lists checkpoints on a non-local
    filesystem (memory:// stands in for s3:// and gs://), newest first, ignoring other files."""
    store = ArtifactStore(f"memory://bucket-{uuid.uuid4().hex}/runs/a/")
    assert store.checkpoints() == []
    for epoch in (2, 10, 1):
        store.write_bytes(checkpoint_name(epoch), b"x")
    store.write_bytes("checkpoints/notes.txt", b"y")
    assert store.checkpoints() == [
        (10, "checkpoints/epoch-0010.pt"),
        (2, "checkpoints/epoch-0002.pt"),
        (1, "checkpoints/epoch-0001.pt"),
    ]
    assert store.read_bytes(checkpoint_name(10)) == b"x"
    assert not store.exists("metadata.json")
    with pytest.raises(FileNotFoundError):
        store.read_bytes("metadata.json")


@pytest.mark.parametrize("as_uri", [True, False], ids=["file-uri", "plain-path"])
def test_local_writes_are_atomic_renames(tmp_path: Path, as_uri: bool) -> None:
    """Locally a file is written under a temporary name and renamed, so a reader (the server,
    a resuming run) never sees half a file; directories are created as needed."""
    root = tmp_path / "out"
    store = ArtifactStore(root.as_uri() if as_uri else str(root))
    store.write_bytes(checkpoint_name(1), b"first")
    store.write_bytes(checkpoint_name(1), b"second")
    assert (root / "checkpoints" / "epoch-0001.pt").read_bytes() == b"second"
    assert [p.name for p in (root / "checkpoints").iterdir()] == ["epoch-0001.pt"]


# google-api-core warns about Python 3.11's end of life when gcsfs is imported.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_cloud_filesystems_are_installed() -> None:
    """s3:// and gs:// resolve to s3fs and gcsfs (both images install them)."""
    assert fsspec.get_filesystem_class("s3").__module__.startswith("s3fs")
    assert fsspec.get_filesystem_class("gs").__module__.startswith("gcsfs")


DIGITS = InputSpec((1, 8, 8))


def test_input_spec_accepts_three_layouts_of_the_same_pixels() -> None:
    """[1, 8, 8], [8, 8] and [64] are accepted for a (1, 8, 8) model, other shapes are not."""
    assert DIGITS.by_depth == {3: (1, 8, 8), 2: (8, 8), 1: (64,)}
    assert DIGITS.description == "[1, 8, 8], [8, 8] or [64]"
    pixels = np.arange(64, dtype=np.float32)
    for layout in (pixels.reshape(1, 8, 8), pixels.reshape(8, 8), pixels):
        batch = DIGITS.parse(json.dumps({"instances": [layout.tolist()] * 2}).encode(), 8)
        assert batch.shape == (2, 1, 8, 8) and batch.dtype == np.float32
        assert (batch[1].ravel() == pixels).all()
    assert InputSpec((64,)).description == "[64]"


def _outcome(spec: InputSpec, body: bytes) -> list[Any] | tuple[int, str]:
    """What `parse` makes of one body alone: its rows, or the refusal's status and message."""
    try:
        rows: list[Any] = spec.parse(body, 8).tolist()
    except InvalidInputError as refused:
        return refused.status, str(refused)
    return rows


def _refusal(outcome: InvalidInputError | None) -> tuple[int, str] | None:
    return None if outcome is None else (outcome.status, str(outcome))


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1, 2]]}',
        b'{"instances": [["1"]]}',
        b'{"instances": [[true]]}',
        b'{"instances": [[0], [0, 0]]}',
        b'{"instances": 5}',
        b'[{"instances": [[1]]}]',
        b'{"instancez": [[1]]}',
        b'{"x": "\\"instances\\": [[[", "instances": [[1]]}',
    ],
)
def test_fast_and_careful_paths_agree_on_rejections(body: bytes) -> None:
    """The fast path never accepts what the careful path rejects: a body it does not decode is
    refused by `parse` naming the problem, and one it decodes but cannot use is refused by
    `assemble` with the same answer `parse` gives."""
    decoded = DIGITS.decode(body, 8)
    refusal = _outcome(DIGITS, body)
    assert isinstance(refusal, tuple)
    if decoded is not None:
        batch, outcomes = DIGITS.assemble([decoded])
        assert len(batch) == 0
        assert [_refusal(o) for o in outcomes] == [refusal]


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[true' + b", 0" * 63 + b"]]}",
        b'{"instances": [[null' + b", 0" * 63 + b"]]}",
        b'{"instances": [["1"' + b", 0" * 63 + b"]]}",
        b'{"instances": [[{"a": 1}' + b", 0" * 63 + b"]]}",
        b'{"instances": [[NaN' + b", 0" * 63 + b"]]}",
        b'{"instances": [[1e400' + b", 0" * 63 + b"]]}",
    ],
    ids=["true", "null", "numeric string", "object", "NaN", "overflow"],
)
def test_what_numpy_would_quietly_convert_is_refused(body: bytes) -> None:
    """np.array turns true, null and "1" into numbers: the fast path does not decode such bodies,
    and the careful path refuses them, as it refuses NaN and numbers beyond a double."""
    assert DIGITS.decode(body, 8) is None
    with pytest.raises(InvalidInputError, match=r"instances\[0\]\[0\]"):
        DIGITS.parse(body, 8)


def _careful_outcome(spec: InputSpec, body: bytes) -> list[Any] | tuple[int, str]:
    """What the careful path alone (pydantic, strict types) makes of a body."""
    try:
        rows: list[Any] = spec._in_range_for_model(spec._parse_checked(body, 8)).tolist()
    except InvalidInputError as refused:
        return refused.status, str(refused)
    return rows


def test_the_fast_path_agrees_with_the_careful_path_on_mutated_bodies() -> None:
    """Differential check of the fast path (decode, then assemble) against the careful path alone,
    on 3,000 bodies made by randomly mutating valid ones and ones with a word in place of a number
    (characters replaced, dropped or repeated, the body wrapped in an array): every body gets the
    same rows or the same refusal."""
    ranged = InputSpec((1, 8, 8), (0.0, 16.0))
    pixels = np.arange(64, dtype=np.float64) / 4
    seeds = [
        json.dumps({"instances": [layout.tolist()] * count}, separators=separators).encode()
        for count, layout in ((1, pixels), (2, pixels.reshape(8, 8)), (1, pixels.reshape(1, 8, 8)))
        for separators in ((",", ":"), (", ", ": "))
    ]
    # and what np.array would quietly make numbers of, in place of a pixel
    seeds += [seeds[0].replace(b"0.25", word, 1) for word in (b"true", b"false", b"null", b'"5"', b"{}")]
    alphabet = b'"[]{},:.-+eE0123456789 \\tnul'
    generator = random.Random(13)  # noqa: S311 - reproducible test data, not a secret
    fast_path_decoded = 0
    for _ in range(3000):
        body = bytearray(generator.choice(seeds))
        for _ in range(generator.randint(1, 3)):
            at = generator.randrange(len(body))
            operation = generator.randrange(4)
            if operation == 0:
                body[at] = generator.choice(alphabet)
            elif operation == 1:
                del body[at]
            elif operation == 2:
                body[at:at] = body[at : at + generator.randint(1, 8)]
            else:
                body = bytearray(b"[" + body + b"]")
        decoded = ranged.decode(bytes(body), 8)
        if decoded is None:
            continue  # parse() takes the careful path itself
        fast_path_decoded += 1
        batch, (refused,) = ranged.assemble([decoded])
        fast = _refusal(refused) if refused is not None else batch.tolist()
        assert fast == _careful_outcome(ranged, bytes(body)), bytes(body)
    assert fast_path_decoded > 200  # the mutations did exercise the fast path


def test_requests_assembled_into_one_call_get_what_each_would_get_alone() -> None:
    """Micro-batching converts and checks the requests of a call together: whatever the mix (three
    layouts, values out of range, wrong shapes, ragged instances, bodies parsed on their own), each
    request's outcome is the one `parse` gives for its body alone, and the batch holds exactly the
    accepted requests' rows, in order."""
    ranged = InputSpec((1, 8, 8), (0.0, 16.0))
    pixels = np.arange(64, dtype=np.float64) / 4
    good = [
        json.dumps({"instances": [layout.tolist()] * count}).encode()
        for count, layout in ((1, pixels), (2, pixels.reshape(8, 8)), (3, pixels.reshape(1, 8, 8)))
    ]
    bad = [
        json.dumps({"instances": [[*pixels[:-1].tolist(), 16.5]]}).encode(),  # out of range
        json.dumps({"instances": [pixels[:63].tolist()]}).encode(),  # wrong shape
        json.dumps({"instances": [[*pixels.reshape(8, 8).tolist()[:7], [0] * 7]]}).encode(),  # ragged
    ]
    cases = ([good[0]] * 3, good, [good[0], bad[0], good[0]], [good[1], bad[0]], good + bad, bad, [bad[2], good[2]])
    for bodies, with_a_parsed_request in itertools.product(cases, (False, True)):
        requests: list[Request] = []
        for body in bodies:
            decoded = ranged.decode(body, 8)
            assert decoded is not None, body  # all of these reach assemble
            requests.append(decoded)
        expected = [_outcome(ranged, body) for body in bodies]
        if with_a_parsed_request:  # one the careful path already took
            requests.append(ranged.parse(good[2], 8))
            expected.append(_outcome(ranged, good[2]))
        batch, outcomes = ranged.assemble(requests)
        assert batch.dtype == np.float32 and batch.shape[1:] == (1, 8, 8)
        assert [_refusal(o) for o in outcomes] == [e if isinstance(e, tuple) else None for e in expected]
        assert batch.tolist() == [row for e in expected if isinstance(e, list) for row in e]


def test_declared_range_is_enforced_and_float32_overflow_without_one() -> None:
    """With metadata's input_range the values must lie in it (inclusive); without one they must
    still fit a float32 (1e39 would become inf). The error names the first bad value's place."""
    ranged = InputSpec((1, 8, 8), (0.0, 16.0))
    inside = [[0] * 63 + [16]]
    assert ranged.parse(json.dumps({"instances": inside}).encode(), 8).shape == (1, 1, 8, 8)
    with pytest.raises(InvalidInputError, match=r"instances\[0\]\[2\] is -0.5; .* input range \[0, 16\]"):
        ranged.parse(json.dumps({"instances": [[0, 0, -0.5] + [0] * 61]}).encode(), 8)
    free = InputSpec((1, 8, 8))
    assert free.parse(json.dumps({"instances": [[-1e30] * 64]}).encode(), 8).min() == np.float32(-1e30)
    with pytest.raises(InvalidInputError, match=r"instances\[0\]\[5\] is 1e\+39; each value must be a finite float32"):
        free.parse(json.dumps({"instances": [[0] * 5 + [1e39] + [0] * 58]}).encode(), 8)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(16.0000001, "16.0000001"), (16.000000000000004, "16.000000000000004"), (17.0, "17"), (-1e-7, "-1e-07")],
)
def test_a_value_out_of_range_is_shown_exactly(value: float, shown: str) -> None:
    """The refused value is printed in the shortest form that reads back as itself: with `:g`,
    16.0000001 read "is 16; each value must be in [0, 16]", an answer that contradicts itself."""
    ranged = InputSpec((1, 8, 8), (0.0, 16.0))
    body = json.dumps({"instances": [[value] + [0] * 63]}).encode()
    with pytest.raises(InvalidInputError) as refused:
        ranged.parse(body, 8)
    assert str(refused.value) == (
        f"instances[0][0] is {shown}; each value must be in the model's input range [0, 16] (metadata.json input_range)"
    )
    assert float(shown) == value


def test_too_many_instances_is_its_own_error() -> None:
    """Over MAX_INSTANCES is a 413 on both paths, checked before the content is converted."""
    body = json.dumps({"instances": [[0] * 64] * 9}).encode()
    with pytest.raises(TooManyInstancesError, match="9 instances"):
        DIGITS.parse(body, 8)
    with pytest.raises(TooManyInstancesError):
        DIGITS.parse(body.replace(b"[0,", b'["x",', 1), 8)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each setting is read from its upper-case variable, with the documented defaults."""
    monkeypatch.setenv("MODEL_URI", "s3://bucket/run")
    monkeypatch.setenv("MAX_INSTANCES", "5")
    monkeypatch.delenv("PORT", raising=False)
    settings = Settings()
    assert settings.model_uri == "s3://bucket/run" and settings.max_instances == 5
    assert settings.port == 8080 and settings.model_name == "digits"
    assert settings.admin_port == 8081 and settings.auth_token_file is None and settings.micro_batching


def test_model_load_errors_are_one_line(tmp_path: Path) -> None:
    """Whatever goes wrong loading, the reason is a single line (one log line per attempt)."""
    (tmp_path / "metadata.json").write_text('{"model_name": "digits"')
    with pytest.raises(ModelLoadError) as invalid:
        load_model(tmp_path.as_uri(), 1)
    assert "metadata.json" in str(invalid.value) and "\n" not in str(invalid.value)
    with pytest.raises(ModelLoadError, match="cannot open"):
        load_model("nosuchscheme://x", 1)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("dataset", ["digits", "breast-cancer"])
def test_train_and_serve_through_a_non_local_filesystem(dataset: str) -> None:
    """The trainer's writes and the server's load go through fsspec end to end: a model trained
    to memory:// (standing in for s3:// or gs://) is loaded from there and predicts. So each
    example model's metadata.json, as the trainer writes it, passes the server's strict reading
    (no field converted, version the digest's first 12 digits, accuracy a fraction)."""
    from mlserve.model import METADATA_FILE, ModelMetadata
    from mltrain.training import TrainConfig, run

    uri = f"memory://models-{uuid.uuid4().hex}/{dataset}"
    run(TrainConfig(output_uri=uri, dataset=dataset, model_name=f"{dataset}-m", epochs=1, device="cpu"))
    written = json.loads(fsspec.open(f"{uri}/{METADATA_FILE}").open().read())
    ModelMetadata.model_validate(written)  # strict: raises if any field needed converting
    model = load_model(uri, 1)
    split = load_split(dataset)
    assert len(model.predict(split.test_inputs[:5])) == 5
    assert model.metadata.model_name == f"{dataset}-m"
    assert model.metadata.version == written["model_sha256"][:12]


def test_device_choice_follows_what_torch_sees() -> None:
    """`auto` takes a GPU only when torch sees one; asking for CUDA without one is an error that
    says so (rather than silently training on the CPU of a GPU node with a broken driver)."""
    import torch
    from mltrain.distributed import select_device

    assert select_device("cpu", 0).type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto", 0).type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            select_device("cuda", 0)


def test_a_failed_call_fails_only_its_own_requests_and_the_batcher_goes_on() -> None:
    """Whatever goes wrong in a shared call (onnxruntime raising, or assembling the batch), every
    request of that call gets the error, none is left waiting, and the next calls are served."""
    spec = InputSpec((2,), (0.0, 100.0))
    failures: list[Exception] = []

    def classify(batch: Batch) -> npt.NDArray[np.intp]:  # stands in for onnxruntime
        if failures:
            raise failures.pop()
        indices: npt.NDArray[np.intp] = batch.sum(axis=1).astype(np.intp)
        return indices

    def assemble(requests: Sequence[Request]) -> tuple[Batch, list[InvalidInputError | None]]:
        if any(isinstance(r, Decoded) and r.instances == [[13, 13]] for r in requests):
            raise MemoryError("assembling failed")
        return spec.assemble(requests)

    def request(a: int, b: int) -> Request:
        decoded = spec.decode(json.dumps({"instances": [[a, b]]}).encode(), 8)
        assert decoded is not None
        return decoded

    rounds = [
        ([(1, 2), (3, 4)], RuntimeError("onnxruntime failed")),
        ([(1, 2), (13, 13)], None),  # (13, 13) makes assembling fail
        ([(5, 6), (7, 8)], None),
    ]

    async def scenario() -> list[object]:
        batcher = MicroBatcher(
            classify, assemble, seconds_per_instance=1e-6, max_instances=64, max_wait_seconds=0, metrics=Metrics()
        )
        outcomes: list[object] = []
        try:
            for pairs, failure in rounds:
                failures.extend([failure] if failure else [])
                answers = await asyncio.wait_for(
                    asyncio.gather(*(batcher.classify(request(*pair)) for pair in pairs), return_exceptions=True), 5
                )
                outcomes.append([a if isinstance(a, list) else f"{type(a).__name__}: {a}" for a in answers])
        finally:
            batcher.close()
        return outcomes

    assert asyncio.run(scenario()) == [
        ["RuntimeError: onnxruntime failed"] * 2,
        ["MemoryError: assembling failed"] * 2,
        [[11], [15]],
    ]


# ---- what the second probe found: models of any rank, float32's range, strict metadata, URIs ----


def _nested(values: list[float], shape: tuple[int, ...]) -> list[Any]:
    nested: list[Any] = np.array(values, dtype=np.float64).reshape(shape).tolist()
    return nested


@pytest.mark.parametrize("shape", [(1, 2, 2, 2, 2), (2, 1, 2, 1, 2, 2)], ids=["5-D", "6-D"])
def test_a_model_of_any_rank_gets_its_requests_checked(shape: tuple[int, ...]) -> None:
    """The careful path's typed request exists for every nesting depth a model accepts, not only
    1 to 4: a 5-D or 6-D model's bad request is a 422 naming the problem (it was a KeyError, and in
    a shared call a 500 for every request of the call), and good ones sharing its call still pass."""
    spec = InputSpec(shape, (0.0, 16.0))
    size = math.prod(shape)
    good = json.dumps({"instances": [_nested([1.0] * size, shape)]}).encode()
    ragged_instance = _nested([1.0] * size, shape)
    innermost = ragged_instance
    while isinstance(innermost[-1], list):
        innermost = innermost[-1]
    innermost.pop()  # the last innermost row is one short
    ragged = json.dumps({"instances": [ragged_instance]}).encode()
    string = json.dumps({"instances": [_nested([1.0] * size, shape)]}).replace("1.0", '"1"', 1).encode()
    requests = [spec.decode(body, 8) for body in (good, ragged, good)]
    assert all(request is not None for request in requests)
    batch, outcomes = spec.assemble([r for r in requests if r is not None])
    assert batch.shape == (2, *shape)
    expected = f"instances[0] is ragged; expected [{', '.join(map(str, shape))}]"
    assert [_refusal(o) for o in outcomes] == [None, (422, expected), None]
    assert _outcome(spec, ragged) == (422, expected)
    refusal = _outcome(spec, string)
    assert isinstance(refusal, tuple) and refusal[0] == 422 and "Input should be a valid number" in refusal[1]


def test_an_unexpected_failure_checking_one_request_fails_that_request_only() -> None:
    """Should checking one request of a shared call fail in a way nobody foresaw (a bug; here a
    subclass stands in for one), that request alone gets the error (a 500) and the others of the
    call are still served."""

    class Flawed(InputSpec):
        def _parse_checked(self, body: bytes, max_instances: int) -> Any:
            if b"13" in body:
                raise KeyError("a bug")
            return super()._parse_checked(body, max_instances)

    spec = Flawed((2,), (0.0, 100.0))
    bodies = [b'{"instances": [[1, 2]]}', b'{"instances": [[13, 13, 13]]}', b'{"instances": [[1, 2, 3]]}']
    requests = [spec.decode(body, 8) for body in bodies] + [spec.decode(bodies[0], 8)]
    batch, outcomes = spec.assemble([r for r in requests if r is not None])
    assert batch.tolist() == [[1, 2], [1, 2]]
    assert [type(o).__name__ if o is not None else None for o in outcomes] == [
        None,
        "KeyError",
        "InvalidInputError",
        None,
    ]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [(-3.4028235e38, True), (3.4028235e38, True), (3.40282356e38, True), (3.4028236e38, False), (1e39, False)],
)
def test_without_a_range_every_value_that_rounds_to_a_finite_float32_is_taken(value: float, accepted: bool) -> None:
    """Without input_range, a value is taken when the model gets a finite float32 from it:
    -3.4028235e+38 (float32's minimum as printed, a little beyond it as a double) was refused as
    "not a finite float32"; a value that rounds to inf is refused saying so."""
    body = json.dumps({"instances": [[value, 0.0]]}).encode()
    outcome = _outcome(InputSpec((2,)), body)
    if accepted:
        assert outcome == [[float(np.float32(value)), 0.0]]
    else:
        assert outcome == (
            422,
            f"instances[0][0] is {value!r}; each value must be a finite float32 "
            "(at most 3.4028235e+38 in magnitude once rounded to float32)",
        )


def _metadata(**fields: object) -> dict[str, object]:
    digest = "ab" * 32
    document: dict[str, object] = {
        "model_name": "digits",
        "version": digest[:12],
        "model_sha256": digest,
        "input_name": "input",
        "input_shape": [1, 8, 8],
        "input_dtype": "float32",
        "input_range": [0.0, 16.0],
        "output_name": "logits",
        "class_labels": list(range(10)),
        "test_accuracy": 0.97,
    }
    document.update(fields)
    return document


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"class_labels": [True, False]}, "class_labels: each label must be an integer or a string; [0] is true"),
        ({"class_labels": [1.0, 2.0]}, "class_labels: each label must be an integer or a string; [0] is 1.0"),
        ({"input_range": "[0, 16]"}, "input_range: Input should be a valid list"),
        ({"input_range": ["0", 16]}, "input_range.0: Input should be a valid number"),
        ({"input_range": [0, 16, 32]}, "input_range: List should have at most 2 items"),
        ({"input_shape": ["8", 8]}, "input_shape.0: Input should be a valid integer"),
        ({"input_shape": [8.0, 8]}, "input_shape.0: Input should be a valid integer"),
        ({"test_accuracy": "0.97"}, "test_accuracy: Input should be a valid number"),
        ({"test_accuracy": 7.5}, "test_accuracy: Input should be less than or equal to 1"),
        ({"test_accuracy": -0.1}, "test_accuracy: Input should be greater than or equal to 0"),
        ({"version": ""}, "version: must be the first 12 hex digits of model_sha256"),
        ({"version": "abababababab\nINFO forged"}, "version: must be the first 12 hex digits of model_sha256"),
        ({"version": "cdcdcdcdcdcd"}, "version: must be the first 12 hex digits of model_sha256"),
        ({"model_file": "a\nb.onnx"}, "model_file: must name a file beside metadata.json"),
        ({"model_file": "\ufeffmodel.onnx"}, "model_file: must name a file beside metadata.json"),
        ({"model_file": "../model.onnx"}, "model_file: must name a file beside metadata.json"),
        ({"input_range": [-1e300, 1e300]}, "input_range: must be [low, high], each a finite float32"),
        ({"input_range": [0, 3.4028236e38]}, "input_range: must be [low, high], each a finite float32"),
        ({"input_range": [16, 0]}, "input_range: must be [low, high] with low <= high"),
    ],
)
def test_metadata_is_read_strictly_as_the_contract_gives_it(fields: dict[str, object], problem: str) -> None:
    """metadata.json's values are taken only as the JSON types the serving contract names, never
    converted (true was served as class 1, 1.0 as 1, "0.97" as an accuracy); version is exactly
    model_sha256[:12] (an empty one, or one with a newline that forged a log line, was served); the
    accuracy is a fraction; the range is one float32 can hold (1e300 let 1e39 through to become
    inf in the model). Each is a one-line reason naming the field."""
    from mlserve.model import ModelMetadata, _fields_message

    with pytest.raises(ValidationError) as invalid:
        ModelMetadata.model_validate(_metadata(**fields))
    assert _fields_message(invalid.value).startswith(problem), _fields_message(invalid.value)


def test_metadata_the_contract_allows_is_read_as_written() -> None:
    """What the contract allows loads unchanged: int or string labels, an int bound, float32's
    extremes as usually printed, no range or accuracy at all."""
    from mlserve.model import ModelMetadata

    wide = ModelMetadata.model_validate(
        _metadata(class_labels=[0, "cat"], input_range=[-3.4028235e38, 3.4028235e38], test_accuracy=1)
    )
    assert wide.class_labels == [0, "cat"] and wide.input_range == [-3.4028235e38, 3.4028235e38]
    bare = _metadata()
    del bare["input_range"], bare["test_accuracy"]
    assert ModelMetadata.model_validate(bare).input_range is None


LOCATIONS = [
    ("/abs/run", None),
    ("rel/run", None),
    ("./a:b", None),
    ("file:///abs/run", None),
    ("s3://bucket/models/digits/runs/1", None),
    ("gs://bucket", None),
    ("", "is empty"),
    (" ", "is empty"),
    (" /abs/run", "has spaces around it"),
    ("/abs/run\n", "has a character that is not printable in it ('\\n')"),
    ("/abs/\x1b[2Jrun", "has a character that is not printable in it ('\\x1b')"),
    ("\ufeffs3://bucket/run", "has a character that is not printable in it ('\\ufeff')"),
    ("s3://bucket/\u200brun", "has a character that is not printable in it ('\\u200b')"),
    ("/abs/run\x85", "has a character that is not printable in it ('\\x85')"),
    ("/abs/\u2028run", "has a character that is not printable in it ('\\u2028')"),
    ("/abs/\ue000run", "has a character that is not printable in it ('\\ue000')"),
    ("/abs/my run", None),
    ("/abs/\u00e9t\u00e9", None),
    ("s4://bucket/run", "scheme 's4' is not supported"),
    ("http://169.254.169.254/latest/meta-data", "scheme 'http' is not supported"),
    ("memory://run", "scheme 'memory' is not supported"),
    ("runs:1/x", "scheme 'runs' is not supported"),
    ("S3://bucket/run", "write the scheme in lower case (s3://...)"),
    ("File:///abs/run", "write the scheme in lower case (file://...)"),
    ("s3:/bucket/run", "is not a URI (s3: must be followed by //)"),
    ("s3:///run", "names no bucket"),
    ("file://relative/run", "is not a local file URI"),
    ("file://localhost/abs/run", "is not a local file URI"),
    ("file://", "is not a local file URI"),
]


@pytest.mark.parametrize(("uri", "problem"), LOCATIONS, ids=[repr(location[0]) for location in LOCATIONS])
def test_trainer_and_server_take_the_same_model_locations(
    uri: str, problem: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--output-uri and MODEL_URI name the same place and follow one rule: local paths, file:///,
    s3:// and gs:// only, each refusal naming the flag or variable and the supported forms. The
    server took any MODEL_URI (s4://, a relative file:// URI, ' ', a metadata address over http)
    and retried it forever; `file://localhost/abs` was written by fsspec to ./localhost/abs; S3://
    passed the trainer's check and failed later with exit 3."""
    from mltrain.artifacts import output_uri_problem

    trainer = output_uri_problem(uri)
    monkeypatch.setenv("MODEL_URI", uri)
    try:
        Settings()
        server = None
    except ValidationError as error:
        (failure,) = error.errors()
        assert failure["loc"] == ("model_uri",)
        server = failure["msg"].removeprefix("Value error, ")
    if problem is None:
        assert trainer is None and server is None
    else:
        assert trainer == f"--output-uri {server}"
        assert server is not None and problem in server and "s3://bucket/prefix or gs://bucket/prefix" in server
        assert "\n" not in server


def test_the_two_copies_of_the_location_rule_are_one() -> None:
    """Each image is built from its own directory, so the rule is kept in both, word for word."""
    from images_helpers import SERVER_DIR, TRAINER_DIR

    trainer = (TRAINER_DIR / "mltrain" / "storage_uri.py").read_text()
    assert (SERVER_DIR / "mlserve" / "storage_uri.py").read_text() == trainer


def test_every_instance_limit_has_a_bound_the_body_limit_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    """MAX_INSTANCES and MICRO_BATCH_MAX_INSTANCES are bounded (10**24 was taken) by the most
    instances a body within MAX_BODY_BYTES's own bound can hold: 4 bytes each, `[0],`."""
    from mlserve.settings import MAX_INSTANCES_LIMIT

    largest_body = Settings.model_fields["max_body_bytes"].metadata
    assert any(getattr(bound, "le", None) == 4 * MAX_INSTANCES_LIMIT for bound in largest_body)
    monkeypatch.setenv("MODEL_URI", "s3://bucket/run")
    for variable in ("MAX_INSTANCES", "MICRO_BATCH_MAX_INSTANCES"):
        monkeypatch.setenv(variable, str(MAX_INSTANCES_LIMIT))
        Settings()
        for too_many in (str(MAX_INSTANCES_LIMIT + 1), str(10**24)):
            monkeypatch.setenv(variable, too_many)
            with pytest.raises(ValidationError, match=f"less than or equal to {MAX_INSTANCES_LIMIT}"):
                Settings()
        monkeypatch.delenv(variable)


def test_the_platform_bounds_max_batch_size_by_the_server_s_max_instances_limit() -> None:
    """serving.maxBatchSize becomes MAX_INSTANCES: a value the server refuses rendered and the pod
    restarted forever. The platform cannot import the server, so the two bounds are held equal here."""
    from mlserve.settings import MAX_INSTANCES_LIMIT

    from components.config import MAX_BATCH_SIZE

    assert MAX_BATCH_SIZE == MAX_INSTANCES_LIMIT


def test_more_than_one_process_needs_torchrun_s_whole_environment() -> None:
    """With WORLD_SIZE above 1 the process group reads RANK, MASTER_ADDR and MASTER_PORT: each
    missing one (or a port that is none) is a problem named with the others before anything
    starts; it was a traceback from init_process_group, exit 1."""
    assert topology_problems({"WORLD_SIZE": "2"}) == [
        "environment variable RANK is not set; WORLD_SIZE=2 needs it (torchrun sets it)",
        "environment variable MASTER_ADDR is not set; WORLD_SIZE=2 needs it (torchrun sets it)",
        "environment variable MASTER_PORT is not set; WORLD_SIZE=2 needs it (torchrun sets it)",
    ]
    assert topology_problems({"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "70000"}) == [
        "environment variable MASTER_PORT='70000' must be a port, 1 to 65535"
    ]
    assert topology_problems({"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "29500"}) == []
    assert topology_problems({"WORLD_SIZE": "1"}) == []


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("digits", True),
        ("breast-cancer", True),
        ("a", True),
        ("m" * 28, True),
        ("m" * 29, False),
        ("a\nb", False),
        ("Digits", False),
        ("digits_v2", False),
        ("2digits", False),
        ("digits-", False),
        ("a/b", False),
        ("", False),
    ],
)
def test_model_names_follow_the_platform_s_rule(name: str, valid: bool) -> None:
    """--model-name takes the names the platform gives models (components/schema.py ModelName,
    stricter than the server's MODEL_NAME), so none carries a newline into metadata.json and the
    log; it refused only '/' before."""
    from mltrain.training import MAX_MODEL_NAME_LENGTH as TRAINER_NAME_LENGTH
    from mltrain.training import TrainConfig
    from pydantic import TypeAdapter

    from components.schema import MAX_MODEL_NAME_LENGTH, ModelName

    assert TRAINER_NAME_LENGTH == MAX_MODEL_NAME_LENGTH

    problems = TrainConfig(output_uri="x", model_name=name).problems()
    assert (problems == []) is valid, problems
    try:
        TypeAdapter(ModelName).validate_python(name)
        platform = True
    except ValidationError:
        platform = False
    assert platform is valid
    if not valid:
        (problem,) = problems
        assert problem.startswith("--model-name must be a DNS-1035 label of at most 28 characters (lower-case")
        assert problem.endswith(f"got {name!r}")

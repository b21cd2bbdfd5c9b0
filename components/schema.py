"""The base of every stack-file object, and the small types they share."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt
from pydantic.alias_generators import to_camel

NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


class Schema(BaseModel):
    """Stack-file objects: camelCase keys, unknown keys rejected, no coercion, immutable once read."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True)


def matching(pattern: str, allowed: str) -> AfterValidator:
    """A string validator: `pattern` must match the whole value; `allowed` says what is, in the
    words the config error shows next to the key and the bad value."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(allowed)
        return value

    return AfterValidator(check)

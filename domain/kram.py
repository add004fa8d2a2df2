"""Kram's mentor functions (Kram 1985): the one list of their names, in two families.

Meetings, goals and survey answers may be tagged with the functions they served; the state keeps the mix
(``RelationshipState.function_mix``) and the feedback report shows it by stage."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

__all__ = ["CAREER", "FAMILY", "KRAM_FUNCTIONS", "PSYCHOSOCIAL", "KramFunction", "TaggedWithFunctions", "family_of"]

KramFunction = Literal[
    "sponsorship",
    "exposure_visibility",
    "coaching",
    "protection",
    "challenging_assignments",
    "role_modeling",
    "acceptance_confirmation",
    "counseling",
    "friendship",
]

KRAM_FUNCTIONS: tuple[str, ...] = get_args(KramFunction)
CAREER: tuple[str, ...] = KRAM_FUNCTIONS[:5]
"""Career functions: they advance the protégé's career."""
PSYCHOSOCIAL: tuple[str, ...] = KRAM_FUNCTIONS[5:]
"""Psychosocial functions: they build competence, identity and effectiveness."""
FAMILY: dict[str, Literal["career", "psychosocial"]] = {
    **dict.fromkeys(CAREER, "career"),
    **dict.fromkeys(PSYCHOSOCIAL, "psychosocial"),
}


def family_of(function: str) -> Literal["career", "psychosocial"]:
    return FAMILY[function]


class TaggedWithFunctions(BaseModel):
    """A meeting, goal or command that may say which Kram functions it served. Untagged, ``functions`` is left out of
    the serialized form: an event recorded before tags existed re-seals to the same bytes, and a command re-sent
    across the change keeps its fingerprint."""

    functions: tuple[KramFunction, ...] = Field(default=(), max_length=len(KRAM_FUNCTIONS))

    @field_validator("functions")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a Kram function is named twice")
        return value

    @model_serializer(mode="wrap")
    def _omit_untagged(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not data.get("functions"):
            data.pop("functions", None)
        return data

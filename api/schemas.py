"""Request and response bodies. Command bodies are derived from the domain's command models, so the OpenAPI
spec documents every field of every command (``command_id`` and ``actor`` become optional: the API fills them)."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from domain import BUILTIN_POLICIES, COMMAND_CLASSES, Actor, CommandBase, ProposeRelationship
from domain.commands import COMMAND_NAMES_KEBAB, MatchScore
from domain.limits import ACTOR, ID_ALPHABET, ID_PATTERN, MAX_ID_LENGTH, MAX_NAME_LENGTH, IdRule

__all__ = [
    "ID_PATTERN",
    "CommandResponse",
    "Identifier",
    "ListResponse",
    "ProposeBody",
    "ReportResponse",
    "command_body_model",
    "commands_by_kebab",
]

Identifier = Annotated[
    str,
    IdRule(),
    Field(description=f"{ID_ALPHABET}, at most {MAX_ID_LENGTH} characters", examples=["rel-2026-0001"]),
]
OptionalActor = Annotated[Actor | None, ACTOR]

_ACTOR_DOC = (
    "platform tokens only (required for them): the actor the command is issued on behalf of. Other roles act as "
    "themselves: the token fixes the actor."
)
_COMMAND_ID_DOC = "idempotency key; a retry with the same id is applied once. Default: a fresh UUID"


class ProposeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    relationship_id: Identifier | None = Field(None, description="default: a fresh id")
    program_id: Identifier
    mentor_id: Identifier
    mentee_id: Identifier
    policy: str = Field(
        "mentoring-12m",
        description=f"a built-in lifecycle policy: {', '.join(BUILTIN_POLICIES)}",
        max_length=MAX_NAME_LENGTH,
    )
    match_method: Annotated[
        str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")
    ] = "manual"
    match_score: MatchScore = None
    predecessor_id: Identifier | None = None
    command_id: Identifier | None = Field(None, description=_COMMAND_ID_DOC)
    actor: OptionalActor = Field(None, description=_ACTOR_DOC)


class CommandResponse(BaseModel):
    relationship_id: str
    command_id: str
    stage: str
    substate: str
    health: str
    seq: int
    events: list[dict[str, Any]] = Field(description="the envelopes this command appended, oldest first")
    projected: bool | None = Field(
        None, description="with ?wait=true: whether the projections (lists, reports, dashboard) show it already"
    )


class ListResponse(BaseModel):
    items: list[dict[str, Any]]
    count: int


class ReportResponse(BaseModel):
    report: str
    program: str | None
    rows: list[dict[str, Any]]


_FILLED = {"type", "command_id", "actor"}


@cache
def commands_by_kebab() -> dict[str, type[CommandBase]]:
    return {
        name: cls
        for name, cls in zip(COMMAND_NAMES_KEBAB, COMMAND_CLASSES, strict=True)
        if cls is not ProposeRelationship
    }


@cache
def command_body_model(cls: type[CommandBase]) -> type[BaseModel]:
    """``LogMeeting`` → ``LogMeetingBody``: its own fields, plus optional ``command_id`` and ``actor``."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in cls.model_fields.items() if name not in _FILLED
    }
    fields["command_id"] = (Identifier | None, Field(None, description=_COMMAND_ID_DOC))
    fields["actor"] = (OptionalActor, Field(None, description=_ACTOR_DOC))
    model: type[BaseModel] = create_model(
        f"{cls.__name__}Body",
        __config__=ConfigDict(extra="forbid"),
        __doc__=cls.__doc__,
        **fields,
    )
    return model

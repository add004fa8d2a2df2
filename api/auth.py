"""Bearer tokens → principals. Tokens come from configuration (``Settings.api.tokens``: token → role spec).

Role specs: ``platform``, ``manager``, ``auditor`` (each optionally ``:<name>``, e.g. ``manager:ana``) and
``participant:<person id>`` (the id is required: a participant token is bound to one person).

What each role may do (the route handlers enforce it with :func:`require`):

=============  ==========================================================================================
role           may
=============  ==========================================================================================
platform       everything: propose and send any command *on behalf of an actor named in the body*, every read,
               reports, dashboard, audit (platform engineers embed lifecycle automation)
manager        propose; the manager's commands (terminate, resolve-separation, log-meeting as a flagged backfill,
               pause, resume) as ``manager:<name>``; every read, reports, dashboard, audit. Never a participant's
               command: the actor is fixed by the token
participant    propose a self-match and the participant's commands, as themself (mentor or mentee is looked up
               from the relationship), only on relationships where they are mentor or mentee; reads of those
               relationships only (show, list, history, state at an instant, verify); no program-wide reports
auditor        reads only: show, list, history, state at an instant, verify, reports, dashboard. Never writes
=============  ==========================================================================================
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from api.errors import ApiError

__all__ = ["ApiRole", "Principal", "TokenBook", "parse_role_spec"]


class ApiRole(StrEnum):
    PLATFORM = "platform"
    MANAGER = "manager"
    PARTICIPANT = "participant"
    AUDITOR = "auditor"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the role of their token and, for participants, the person the token is bound to."""

    role: ApiRole
    name: str  # person id for participants; a display/actor name for the others

    @property
    def person_id(self) -> str | None:
        return self.name if self.role is ApiRole.PARTICIPANT else None

    @property
    def writes(self) -> bool:
        return self.role is not ApiRole.AUDITOR

    def __str__(self) -> str:
        return f"{self.role.value}:{self.name}"


def parse_role_spec(spec: str) -> Principal:
    """``'manager'`` → manager named ``manager``; ``'participant:p-1'`` → participant p-1. ValueError otherwise."""
    role_text, _, name = spec.strip().partition(":")
    try:
        role = ApiRole(role_text.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in ApiRole)
        raise ValueError(f"unknown role {role_text!r} in token spec {spec!r} (known: {allowed})") from None
    name = name.strip()
    if role is ApiRole.PARTICIPANT and not name:
        raise ValueError(f"token spec {spec!r}: a participant token needs a person id ('participant:<person id>')")
    return Principal(role=role, name=name or role.value)


class TokenBook:
    """The configured tokens. Lookup is constant-time per token (``hmac.compare_digest``)."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._entries: list[tuple[bytes, Principal]] = [
            (token.encode(), parse_role_spec(spec)) for token, spec in tokens.items() if token
        ]

    def __len__(self) -> int:
        return len(self._entries)

    def principal(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization: Bearer <token>`` header; 401 when missing or unknown."""
        if not authorization:
            raise ApiError(401, "Unauthorized", "missing bearer token: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Unauthorized", "the Authorization header must be 'Bearer <token>'")
        presented = token.strip().encode()
        found: Principal | None = None
        for known, principal in self._entries:
            if hmac.compare_digest(known, presented):
                found = principal
        if found is None:
            raise ApiError(401, "Unauthorized", "unknown bearer token")
        return found

    def require(self, principal: Principal, *roles: ApiRole, operation: str) -> None:
        require(principal, *roles, operation=operation)


def require(principal: Principal, *roles: ApiRole, operation: str) -> None:
    """403 unless the principal's role is one of ``roles``."""
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        rule = f"{operation} is not allowed for the {principal.role.value} role (allowed: {allowed})"
        if principal.role is ApiRole.AUDITOR and ApiRole.AUDITOR not in roles:
            rule = f"an auditor reads and never writes: {operation} is not allowed (allowed: {allowed})"
        raise ApiError(403, "Forbidden", rule)

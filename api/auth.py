"""Bearer tokens → principals. Tokens come from configuration (``Settings.api.tokens``: token → role spec).

Role specs: ``platform:<name>``, ``manager:<name>``, ``auditor:<name>`` and ``participant:<person id>``. Every spec
names its holder: a manager's commands carry that name as their actor id, and two managers never share one.

Tokens are checked when the API starts (:class:`TokenBook`): at least :data:`MIN_TOKEN_LENGTH` characters, and never
one of the :data:`EXAMPLE_TOKENS` that older ``.env.example`` files shipped. A refusal names the spec, never the token.

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

__all__ = [
    "EXAMPLE_TOKENS",
    "MIN_TOKEN_LENGTH",
    "ApiRole",
    "Principal",
    "TokenBook",
    "TokenConfigError",
    "parse_role_spec",
]

MIN_TOKEN_LENGTH = 24
"""Shortest bearer token accepted (``secrets.token_urlsafe(18)`` gives 24 characters, 144 random bits)."""
EXAMPLE_TOKENS = frozenset({"dev-platform", "dev-manager", "dev-auditor"})
"""Published tokens (an earlier ``.env.example``): live the moment the file is copied to ``.env``, so refused."""
TOKEN_ADVICE = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class TokenConfigError(ValueError):
    """The configured tokens cannot be used; the message says which spec and why (never the token itself)."""


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
    if not name:
        raise ValueError(
            f"token spec {spec!r}: name the token's holder ('{role.value}:<name>'); the name is who the history "
            "says acted, so two holders never share one"
        )
    return Principal(role=role, name=name)


def token_problems(tokens: Mapping[str, str]) -> list[str]:
    """What is wrong with the configured tokens, one line each, naming the spec (the token stays secret)."""
    problems: list[str] = []
    for token, spec in tokens.items():
        try:
            parse_role_spec(spec)
        except ValueError as exc:
            problems.append(str(exc))
        if token.strip() in EXAMPLE_TOKENS:
            problems.append(f"the token for {spec!r} is an example token published in .env.example; {TOKEN_ADVICE}")
        elif len(token.strip()) < MIN_TOKEN_LENGTH:
            problems.append(
                f"the token for {spec!r} has {len(token.strip())} characters; at least {MIN_TOKEN_LENGTH} are "
                f"needed; {TOKEN_ADVICE}"
            )
    return problems


class TokenBook:
    """The configured tokens. Lookup is constant-time per token (``hmac.compare_digest``)."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        problems = token_problems(tokens)
        if problems:
            raise TokenConfigError("MENTORFLOW_API__TOKENS refused: " + "; ".join(problems))
        self._entries: list[tuple[bytes, Principal]] = [
            (token.strip().encode(), parse_role_spec(spec)) for token, spec in tokens.items()
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

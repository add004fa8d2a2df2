"""The privacy service (issue 20, docs/privacy.md): erase a person, export what is held about them.

One entry for the CLI (``mentorflow privacy erase | export``) and the HTTP API (``/privacy/persons/{id}/…``). It
takes its parameters (a database URL, a key store) and raises :class:`domain.errors.NotAllowedForRole` for a caller
who may not erase, :class:`projections.privacy.erasure.UnknownPerson` for a person nothing names, and
:class:`service.errors.InvalidArgument` for a bad id or reason code: each adapter maps them once.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from domain.errors import NotAllowedForRole
from domain.limits import MAX_NAME_LENGTH, PERSON_ID
from domain.privacy.keys import KeyStore
from projections.db import make_engine, migrate
from projections.privacy.cipher import FieldCipher
from projections.privacy.erasure import (
    ErasureOutcome,
    UnknownPerson,
    erase_person,
    export_person,
    ledger_rows,
    verify_ledger,
)
from projections.privacy.retention import RetentionPass, program_retention, retention_pass
from service.errors import InvalidArgument

__all__ = ["ERASER_ROLES", "REASON_CODE_PATTERN", "PrivacyService", "UnknownPerson"]

ERASER_ROLES = ("manager", "platform")
"""Who may erase a person: a program manager or the platform (never a participant, an auditor or the system)."""
REASON_CODE_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
"""An erasure's reason is a code (``request``, ``gdpr-art17``, ``retention``): the ledger never holds free text."""
_REASON_RE = re.compile(REASON_CODE_PATTERN)


def _person(value: str, field: str) -> str:
    try:
        PERSON_ID.check(value)
    except ValueError as exc:
        raise InvalidArgument(field, str(exc)) from None
    return value


def check_reason(reason_code: str) -> str:
    if not (0 < len(reason_code) <= MAX_NAME_LENGTH) or not _REASON_RE.match(reason_code):
        raise InvalidArgument(
            "reason",
            f"must be a reason code of at most {MAX_NAME_LENGTH} characters matching {REASON_CODE_PATTERN} "
            "(no free text: the erasure ledger holds no personal data)",
        )
    return reason_code


class PrivacyService:
    def __init__(self, database_url: str, store: KeyStore | None = None) -> None:
        self._url = database_url
        self._store = store
        self._engine: Engine | None = None
        self._cipher: FieldCipher | None = None

    def _ready(self) -> tuple[Engine, FieldCipher]:
        if self._engine is None or self._cipher is None:
            migrate(self._url)
            self._engine = make_engine(self._url)
            if self._store is None:
                from projections.privacy.keystore import SqlKeyStore

                self._store = SqlKeyStore(self._engine)
            self._cipher = FieldCipher(self._store)
        return self._engine, self._cipher

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _erase(self, person_id: str, by_id: str, by_role: str, reason_code: str) -> ErasureOutcome:
        engine, cipher = self._ready()
        return erase_person(engine, cipher.store, person_id, by=by_id, by_role=by_role, reason_code=reason_code)

    async def erase(self, person_id: str, *, by_id: str, by_role: str, reason_code: str = "request") -> ErasureOutcome:
        """Erase ``person_id`` on behalf of ``by_role:by_id`` (a manager or the platform)."""
        _person(person_id, "person")
        _person(by_id, "by")
        check_reason(reason_code)
        if by_role not in ERASER_ROLES:
            raise NotAllowedForRole(
                f"erasing a person is allowed for {' or '.join(ERASER_ROLES)} only, not for the {by_role} role"
            )
        return await asyncio.to_thread(self._erase, person_id, by_id, by_role, reason_code)

    def _export(self, person_id: str) -> dict[str, Any]:
        engine, cipher = self._ready()
        return export_person(engine, cipher, person_id)

    async def export(self, person_id: str) -> dict[str, Any]:
        """Everything held about ``person_id``, opened (a data subject's access request)."""
        _person(person_id, "person")
        return await asyncio.to_thread(self._export, person_id)

    def _retention(self, keep: timedelta | None, dry_run: bool) -> RetentionPass:
        engine, cipher = self._ready()
        if keep is None and not program_retention(engine):
            raise InvalidArgument(
                "keep_days",
                "retention is off: give --keep-days N, set MENTORFLOW_PRIVACY__RETENTION_DAYS or a program's "
                "retention (program configure P --retention-days N)",
            )
        return retention_pass(engine, cipher.store, keep, datetime.now(UTC), dry_run=dry_run)

    async def retention(self, keep_days: int | None, *, dry_run: bool = False) -> RetentionPass:
        """Erase (by the system, reason ``retention``) everyone whose relationships all closed longer ago than the
        retention of their program (its own, else ``keep_days``; None: only programs with their own);
        ``dry_run``: only list them."""
        if keep_days is not None and keep_days < 1:
            raise InvalidArgument("keep_days", "must be at least 1 (0 turns retention off)")
        keep = None if keep_days is None else timedelta(days=keep_days)
        return await asyncio.to_thread(self._retention, keep, dry_run)

    def _ledger(self) -> dict[str, Any]:
        engine, _ = self._ready()
        problem = verify_ledger(engine)
        with engine.connect() as conn:
            rows = ledger_rows(conn)
        return {
            "ok": problem is None,
            "problem": problem,
            "rows": [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows],
        }

    async def ledger(self) -> dict[str, Any]:
        """The erasure ledger and whether its hash chain holds (``ok``; ``problem`` names the first break)."""
        return await asyncio.to_thread(self._ledger)

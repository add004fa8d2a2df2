"""The default key store: a database table next to the reporting tables (SQLite or PostgreSQL).

``privacy_keys`` holds one row per data key: ``key_id`` (32 random hex digits, the id a sealed string names),
``person_id``, the 32 key bytes and when it was made. Erasing a person deletes their rows: every sealed string made
with those keys is unreadable from then on, wherever it is stored (crypto-shredding).

The tables are not projection tables: a rebuild never drops them (``PROJECTION_TABLES`` does not name them), and
they are created here, idempotently (``ensure_tables``), by whoever opens the store first.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Collection
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Engine, Integer, LargeBinary, MetaData, String, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.limits import MAX_ID_LENGTH
from projections.db import sqlite_path
from projections.models import NAMING, UtcDateTime

__all__ = ["ERASURES", "KEY_BYTES", "ErasureRow", "PrivacyKey", "SqlKeyStore", "ensure_tables", "privacy_metadata"]

KEY_BYTES = 32
privacy_metadata = MetaData(naming_convention=NAMING)


class _Base(DeclarativeBase):
    metadata = privacy_metadata


class PrivacyKey(_Base):
    __tablename__ = "privacy_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), index=True)
    key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ErasureRow(_Base):
    """The erasure ledger: one row per erasure, hash-chained (``prev_hash`` → ``hash``) so a deleted or edited row
    shows; no personal data (who, whom by pseudonymous id, when, a reason code, counts)."""

    __tablename__ = "privacy_erasures"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(MAX_ID_LENGTH), index=True)
    erased_by: Mapped[str] = mapped_column(String(MAX_ID_LENGTH))
    erased_by_role: Mapped[str] = mapped_column(String(64))
    reason_code: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime())
    keys_erased: Mapped[int] = mapped_column(Integer)
    rows_scrubbed: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


ERASURES = cast(Table, ErasureRow.__table__)
"""The erasure ledger's Core table."""


def ensure_tables(engine: Engine) -> None:
    """Create the privacy tables if absent; a SQLite file holding keys is made owner-only (0600)."""
    privacy_metadata.create_all(engine, checkfirst=True)
    path = sqlite_path(engine.url)
    if path is not None and path.exists():
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


class SqlKeyStore:
    """:class:`domain.privacy.keys.KeyStore` on a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_tables(engine)

    def key_for(self, person_id: str) -> tuple[str, bytes]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(PrivacyKey.key_id, PrivacyKey.key)
                .where(PrivacyKey.person_id == person_id)
                .order_by(PrivacyKey.created_at.desc(), PrivacyKey.key_id)
                .limit(1)
            ).first()
        if row is not None:
            return row[0], bytes(row[1])
        key_id, key = secrets.token_hex(16), secrets.token_bytes(KEY_BYTES)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(PrivacyKey).values(key_id=key_id, person_id=person_id, key=key, created_at=datetime.now(UTC))
                )
        except IntegrityError:  # pragma: no cover - a 128-bit id collision
            return self.key_for(person_id)
        return key_id, key

    def keys(self, key_ids: Collection[str]) -> dict[str, bytes]:
        if not key_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(PrivacyKey.key_id, PrivacyKey.key).where(PrivacyKey.key_id.in_(list(key_ids))))
            return {key_id: bytes(key) for key_id, key in rows}

    def key_ids_of(self, person_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(PrivacyKey.key_id).where(PrivacyKey.person_id == person_id)).scalars())

    def erase(self, person_id: str) -> int:
        """Delete the person's keys so that their bytes do not linger: SQLite overwrites the freed content
        (``secure_delete``) and checkpoints its write-ahead log into the file (the log's old frames held the key);
        PostgreSQL rewrites the table (``VACUUM FULL``), so no dead row version keeps the key. Copies outside the
        database (backups, replicas' logs) are not reached: docs/privacy.md."""
        sqlite = self.engine.dialect.name == "sqlite"
        with self.engine.begin() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            erased = conn.execute(delete(PrivacyKey).where(PrivacyKey.person_id == person_id)).rowcount or 0
        if erased and sqlite:
            raw = self.engine.raw_connection()  # outside any transaction (a checkpoint cannot run inside one)
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
            finally:
                raw.close()
        elif erased:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM FULL {PrivacyKey.__tablename__}")
        return erased

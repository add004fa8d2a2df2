"""SQLAlchemy 2 writes and reads on SQLite (the embedded default) and on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Probe(Base):
    __tablename__ = "probe"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


def test_write_and_read_back(database_url: str) -> None:
    engine = create_engine(database_url)
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add_all([Probe(name="initiation"), Probe(name="cultivation")])
    with Session(engine) as session:
        names = session.scalars(select(Probe.name).order_by(Probe.id)).all()
    assert names == ["initiation", "cultivation"]
    assert engine.dialect.name in {"sqlite", "postgresql"}
    engine.dispose()

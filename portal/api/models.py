"""What the API remembers about the requests it answered: idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, utcnow


class IdempotencyKey(Base):
    """The first successful answer to a POST sent with an ``Idempotency-Key`` header.

    Keys belong to one token. The row is written in the same transaction as the request's effect,
    so an effect is never committed without its key, nor a key without its effect.
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("token_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the method, path, query and canonical JSON body: "the same request".
    fingerprint: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    # Empty only inside the first request's own transaction, between claiming the key and answering.
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

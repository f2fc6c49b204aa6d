"""The installation's reseller, its clients (tenants), portal users, end users and API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from portal.db import Base, utcnow
from portal.listing import fold


def str_enum(enum_class: type[enum.Enum], length: int = 32) -> Enum:
    """Store an enum as its string value, portable across SQLite and PostgreSQL."""
    return Enum(
        enum_class,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def _role_matches_client() -> CheckConstraint:
    """Reseller roles have no client; client roles have exactly one."""
    return CheckConstraint(
        "(role IN ('reseller_admin', 'reseller_staff') AND client_id IS NULL)"
        " OR (role IN ('client_admin', 'client_user') AND client_id IS NOT NULL)",
        name="role_matches_client",
    )


class Role(enum.StrEnum):
    RESELLER_ADMIN = "reseller_admin"
    RESELLER_STAFF = "reseller_staff"
    CLIENT_ADMIN = "client_admin"
    CLIENT_USER = "client_user"
    # An outside tool (an RMM, a PSA): posts usage for the clients mapped to its integration, and
    # reads back what it sent; nothing else. Tokens only, never a person.
    INTEGRATION = "integration"

    @property
    def is_reseller(self) -> bool:
        return self in (Role.RESELLER_ADMIN, Role.RESELLER_STAFF)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ClientStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


DEFAULT_PAYMENT_TERMS_DAYS = 14


class Reseller(Base):
    """The MSP running this installation (one row: one installation is one MSP).

    Its profile (legal name, address, logo, tax ID, support contacts, bank details, invoice number
    prefix and payment terms) is what every invoice, e-mail and page shows as the seller.
    """

    __tablename__ = "resellers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The legal name, as invoices show it.
    name: Mapped[str] = mapped_column(String(200))
    support_email: Mapped[str | None] = mapped_column(String(254))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    address: Mapped[str | None] = mapped_column(Text)
    tax_id: Mapped[str | None] = mapped_column(String(64))
    support_phone: Mapped[str | None] = mapped_column(String(40))
    # Bank details for a transfer, printed on invoices not charged to a card.
    payment_instructions: Mapped[str | None] = mapped_column(Text)
    invoice_prefix: Mapped[str] = mapped_column(String(16), default="", server_default="")
    payment_terms_days: Mapped[int] = mapped_column(
        default=DEFAULT_PAYMENT_TERMS_DAYS, server_default=str(DEFAULT_PAYMENT_TERMS_DAYS)
    )
    # A verified PNG or JPEG of at most 1 MB, kept in the database so every worker can print it.
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_mimetype: Mapped[str | None] = mapped_column(String(16))


class Client(Base):
    """A tenant: one of the reseller's customers."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[ClientStatus] = mapped_column(str_enum(ClientStatus), default=ClientStatus.ACTIVE)
    billing_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Where invoices are addressed: the buyer block of every invoice.
    billing_address: Mapped[str | None] = mapped_column(Text)
    # Further addresses that get a copy of each invoice, one per line (billing_email is the first).
    extra_billing_emails: Mapped[str | None] = mapped_column(Text)
    tax_id: Mapped[str | None] = mapped_column(String(64))
    # Name and reference case-folded in Python, what client search compares (see portal.listing).
    search_text: Mapped[str] = mapped_column(String(460), default="", server_default="")
    # When the row last changed, for API syncs (`updated_since`); nullable only so that SQLite can add
    # the column without rebuilding a table that others point at. Every write sets it.
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="client", order_by="User.email")
    end_users: Mapped[list[EndUser]] = relationship(back_populates="client", order_by="EndUser.name")

    @validates("name", "ref")
    def _keep_search_text(self, key: str, value: str) -> str:
        name = value if key == "name" else self.name
        ref = value if key == "ref" else self.ref
        self.search_text = fold(f"{name or ''} {ref or ''}")
        return value


class User(Base):
    """Someone who logs in to the portal: reseller staff or a client's administrator or user."""

    __tablename__ = "users"
    __table_args__ = (_role_matches_client(),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    # None until an invited user chooses a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped when the password changes, so that every other logged-in session ends.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    client: Mapped[Client | None] = relationship(back_populates="users")

    # Flask-Login protocol.
    @property
    def is_active(self) -> bool:
        return self.active and self.password_hash is not None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_reseller(self) -> bool:
        return self.role.is_reseller


class EndUser(Base):
    """A person at a client who seats are assigned to (a UPN, and an extension for VoIP)."""

    __tablename__ = "end_users"
    __table_args__ = (
        UniqueConstraint("client_id", "email"),
        UniqueConstraint("client_id", "extension"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    extension: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Name and e-mail case-folded in Python, what end user and seat search compares (portal.listing).
    search_text: Mapped[str] = mapped_column(String(460), default="", server_default="")
    # When the row last changed, for API syncs (`updated_since`); nullable only so that SQLite can add
    # the column without rebuilding a table that others point at. Every write sets it.
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)

    client: Mapped[Client] = relationship(back_populates="end_users")

    @validates("name", "email")
    def _keep_search_text(self, key: str, value: str) -> str:
        name = value if key == "name" else self.name
        email = value if key == "email" else self.email
        self.search_text = fold(f"{name or ''} {email or ''}")
        return value


class Integration(Base):
    """An outside tool that reports usage (an RMM such as NinjaOne or Datto, a PSA, a script).

    It is the *sender* of its events and snapshots: their ids are its own. Its tokens
    (role ``integration``) act only for the clients its source mappings name.
    """

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the tool calls itself in snapshots (``"source"``), e.g. ``ninjaone``: lower case, unique.
    source: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    mappings: Mapped[list[SourceMapping]] = relationship(
        back_populates="integration", order_by="SourceMapping.external_org", cascade="all, delete-orphan"
    )


class SourceMapping(Base):
    """One of an integration's organisation or site ids, and the client it stands for."""

    __tablename__ = "integration_source_mappings"
    __table_args__ = (UniqueConstraint("integration_id", "external_org"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    external_org: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    integration: Mapped[Integration] = relationship(back_populates="mappings")
    client: Mapped[Client] = relationship()


class UnmappedSource(Base):
    """An organisation id an integration sent that no mapping names: listed so it can be mapped."""

    __tablename__ = "integration_unmapped_sources"
    __table_args__ = (UniqueConstraint("integration_id", "external_org"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    external_org: Mapped[str] = mapped_column(String(200))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    times_seen: Mapped[int] = mapped_column(default=1)


class ApiToken(Base):
    """A bearer token for the JSON API. Only a SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(
            "(role IN ('reseller_admin', 'reseller_staff') AND client_id IS NULL AND integration_id IS NULL)"
            " OR (role IN ('client_admin', 'client_user') AND client_id IS NOT NULL"
            " AND integration_id IS NULL)"
            " OR (role = 'integration' AND client_id IS NULL AND integration_id IS NOT NULL)",
            name="role_matches_scope",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in listings so a person can tell tokens apart.
    token_prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    # Only for role ``integration``: the tool the token sends for.
    integration_id: Mapped[int | None] = mapped_column(ForeignKey("integrations.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    client: Mapped[Client | None] = relationship()
    integration: Mapped[Integration | None] = relationship()
    created_by: Mapped[User | None] = relationship()


class ApiTokenSource(Base):
    """An address an API token has been used from. Its first use from each address is a security
    event in the audit log; a stolen token used from elsewhere shows up there."""

    __tablename__ = "api_token_sources"

    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(45), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class TokenPurpose(enum.StrEnum):
    PASSWORD_RESET = "password_reset"  # nosec B105  # a token kind's name, not a password
    INVITATION = "invitation"
    UNLOCK = "unlock"  # clears a lockout after too many wrong passwords


class OneTimeToken(Base):
    """A single-use link sent by e-mail (password reset, invitation, unlock). Stored hashed."""

    __tablename__ = "one_time_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(str_enum(TokenPurpose))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class FailedLogin(Base):
    """One wrong password for an e-mail address, kept for the throttling window only.

    Recorded whether or not the address has an account, so the throttle does not reveal which do.
    """

    __tablename__ = "failed_logins"
    __table_args__ = (Index("ix_failed_logins_email_at", "email", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TwoFactor(Base):
    """A user's second factor: a TOTP secret (sealed, see portal.sealing) and its last code used.

    The row exists from the start of the set-up; ``enabled_at`` is set once the user has proved
    their authenticator app works by typing a code from it. Until then the login asks for nothing.
    """

    __tablename__ = "user_two_factor"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_sealed: Mapped[str] = mapped_column(String(255))
    enabled_at: Mapped[datetime | None]
    # The 30-second step of the last accepted code: a code seen once is never accepted again.
    last_step: Mapped[int | None]


class RecoveryCode(Base):
    """A single-use code that replaces the authenticator app once (a lost phone). Stored hashed."""

    __tablename__ = "two_factor_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]

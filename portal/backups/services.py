"""One archive holding everything an installation cannot rebuild: its database, its secret key and
Kamailio's database, with a manifest saying what is inside and where it came from.

PostgreSQL is copied with ``pg_dump --format=custom`` (consistent while everything runs) and put back
with ``pg_restore``; SQLite with its online backup API, which copies a consistent snapshot page by
page while writers carry on. The archive is a gzipped tar readable with ``tar`` alone, written with
mode 0600 because it holds the secret key.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess  # nosec B404  # pg_dump/pg_restore run with fixed argument lists, never a shell
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

from portal import __version__
from portal.db import utcnow
from portal.errors import Conflict, InvalidInput

ARCHIVE_FORMAT = "seatmeter-backup"
ARCHIVE_VERSION = 1
MANIFEST = "manifest.json"
SECRET_KEY_MEMBER = "secret_key"  # nosec B105  # an archive member's name, not a secret
DUMP_MEMBERS = frozenset({"database.sqlite", "database.dump", "kamailio.sqlite", "kamailio.dump"})


@dataclass(frozen=True)
class Installation:
    """Where an installation keeps what a backup carries."""

    database_url: str
    kamailio_url: str
    secret_key: str
    secret_key_file: Path


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    notes: list[str]


def write_backup(installation: Installation, archive: Path) -> dict[str, Any]:
    """Write ``archive`` and return its manifest."""
    if archive.exists():
        raise Conflict(f"{archive} already exists; choose a new file name.")
    with tempfile.TemporaryDirectory(prefix="seatmeter-backup-") as scratch:
        work = Path(scratch)
        manifest: dict[str, Any] = {
            "format": ARCHIVE_FORMAT,
            "version": ARCHIVE_VERSION,
            "created_at": utcnow().isoformat(),
            "seatmeter_version": __version__,
            "database": _dump(installation.database_url, work, "database"),
            "kamailio": _dump(installation.kamailio_url, work, "kamailio", optional=True),
            "secret_key": _copy_secret_key(installation, work),
        }
        manifest["database"]["alembic_revision"] = _alembic_revision(installation.database_url)
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        archive.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(work / MANIFEST, arcname=MANIFEST)
            for name in sorted(path.name for path in work.iterdir() if path.name != MANIFEST):
                tar.add(work / name, arcname=name)
    return manifest


def read_manifest(archive: Path) -> dict[str, Any]:
    with _open_archive(archive) as tar:
        return _manifest_of(tar, archive)


def restore_backup(installation: Installation, archive: Path, *, force: bool) -> RestoreResult:
    """Put the archive's database, Kamailio database and secret key back.

    Refuses (before changing anything) when a target database already has tables, unless ``force``:
    then those tables are replaced.
    """
    notes: list[str] = []
    with _open_archive(archive) as tar, tempfile.TemporaryDirectory(prefix="seatmeter-restore-") as scratch:
        manifest = _manifest_of(tar, archive)
        work = Path(scratch)
        parts = [("database", installation.database_url)]
        if manifest["kamailio"].get("file"):
            parts.append(("kamailio", installation.kamailio_url))
        else:
            notes.append(f"Kamailio: nothing in the backup ({manifest['kamailio'].get('note', '')}).")
        for part, url in parts:
            if manifest[part].get("file") not in DUMP_MEMBERS:
                raise InvalidInput(f"{archive} is not a Seatmeter backup.")
            _check_target(part, manifest[part], url, force=force)
        for part, url in parts:
            member = manifest[part]["file"]
            _extract(tar, member, work / member)
            _load(url, manifest[part]["backend"], work / member, replace=force)
        if manifest["secret_key"].get("included"):
            _extract(tar, SECRET_KEY_MEMBER, work / SECRET_KEY_MEMBER)
            key = (work / SECRET_KEY_MEMBER).read_text().strip()
            key_file_in_use = _key_file_is_in_use(installation)
            _write_secret_key(installation.secret_key_file, key)
            if key != installation.secret_key and not key_file_in_use:
                notes.append(
                    "The backup's secret key was written to "
                    f"{installation.secret_key_file}, but this installation takes its key from "
                    "SECRET_KEY or SECRET_KEY_FILE: put the backup's key there."
                )
            else:
                notes.append(f"Secret key restored to {installation.secret_key_file}.")
        else:
            notes.append(f"Secret key: not in the backup ({manifest['secret_key'].get('note', '')}).")
    return RestoreResult(manifest=manifest, notes=notes)


# --- the two database kinds ------------------------------------------------------------------


def _backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise InvalidInput(f"Backups support PostgreSQL and SQLite databases, not {name}.")
    return name


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise InvalidInput("An in-memory SQLite database cannot be backed up or restored.")
    return Path(database)


def _dump(url: str, work: Path, part: str, *, optional: bool = False) -> dict[str, Any]:
    backend = _backend(url)
    if backend == "sqlite":
        source_path = _sqlite_path(url)
        if not source_path.exists():
            if optional:
                return {"backend": backend, "file": None, "note": f"no database at {source_path}"}
            raise InvalidInput(f"There is no database at {source_path}.")
        member = f"{part}.sqlite"
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        target = sqlite3.connect(work / member)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return {"backend": backend, "file": member}
    member = f"{part}.dump"
    _run_postgres_tool(
        "pg_dump", url, ["--format=custom", "--no-owner", "--no-privileges", f"--file={work / member}"]
    )
    return {"backend": backend, "file": member}


def _check_target(part: str, entry: dict[str, Any], url: str, *, force: bool) -> None:
    backend = _backend(url)
    if backend != entry["backend"]:
        raise InvalidInput(
            f"The backup's {part} is {entry['backend']}, but this installation's is {backend}: "
            "restore into the same kind of database."
        )
    tables = _table_names(url)
    if tables and not force:
        raise Conflict(
            f"The {part} database is not empty ({len(tables)} tables). Restore into a new, empty "
            "database, or pass --force to replace what is there."
        )


def _table_names(url: str) -> list[str]:
    if _backend(url) == "sqlite" and not _sqlite_path(url).exists():
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return inspect(connection).get_table_names()
    finally:
        engine.dispose()


def _load(url: str, backend: str, dump: Path, *, replace: bool) -> None:
    if backend == "sqlite":
        target_path = _sqlite_path(url)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
        # The backup API overwrites the whole target, tables, indexes and all.
        target = sqlite3.connect(target_path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return
    if replace:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    _run_postgres_tool("pg_restore", url, ["--no-owner", "--no-privileges", "--exit-on-error", str(dump)])


def _run_postgres_tool(tool: str, url: str, arguments: list[str]) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise InvalidInput(f"{tool} is not installed (Debian: apt-get install postgresql-client).")
    parsed = make_url(url)
    # The password travels in the environment, not on the command line other users can read.
    environment = {**os.environ, "PGPASSWORD": parsed.password} if parsed.password else dict(os.environ)
    libpq_url = _libpq_url(parsed)
    completed = subprocess.run(  # nosec B603  # fixed argument list from our own settings, no shell
        [executable, *arguments, f"--dbname={libpq_url}"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise InvalidInput(f"{tool} failed: {completed.stderr.strip() or completed.returncode}")


def _libpq_url(parsed: URL) -> str:
    return parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _alembic_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if "alembic_version" not in inspect(connection).get_table_names():
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


# --- the secret key ----------------------------------------------------------------------------


def _key_file_is_in_use(installation: Installation) -> bool:
    path = installation.secret_key_file
    return path.exists() and path.read_text().strip() == installation.secret_key


def _copy_secret_key(installation: Installation, work: Path) -> dict[str, Any]:
    if not _key_file_is_in_use(installation):
        return {
            "included": False,
            "note": "the key comes from SECRET_KEY or SECRET_KEY_FILE; keep it with the settings",
        }
    descriptor = os.open(work / SECRET_KEY_MEMBER, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(installation.secret_key)
    return {"included": True, "file": SECRET_KEY_MEMBER}


def _write_secret_key(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)


# --- the archive -------------------------------------------------------------------------------


def _open_archive(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r:gz")
    except FileNotFoundError:
        raise InvalidInput(f"There is no file {archive}.") from None
    except (tarfile.TarError, OSError):
        raise InvalidInput(f"{archive} is not a Seatmeter backup.") from None


def _manifest_of(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    try:
        handle = tar.extractfile(MANIFEST)
        manifest = json.load(handle) if handle is not None else None
    except (KeyError, ValueError, tarfile.TarError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise InvalidInput(f"{archive} is not a Seatmeter backup.")
    if manifest.get("version") != ARCHIVE_VERSION:
        raise InvalidInput(f"{archive} is a backup of format version {manifest.get('version')}.")
    return manifest


def _extract(tar: tarfile.TarFile, member: str, destination: Path) -> None:
    # Members are read by the names the manifest gives and written where we choose: a crafted
    # archive cannot place files elsewhere (no extractall).
    try:
        handle = tar.extractfile(member)
    except KeyError:
        handle = None
    if handle is None:
        raise InvalidInput(f"The backup lacks {member}.")
    with handle, destination.open("wb") as output:
        shutil.copyfileobj(handle, output)

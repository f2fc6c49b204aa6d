"""Pytest plugin: a real Samba Active Directory domain controller on 127.0.0.1, standing in for the
directory that authorizes colo desktops on the Remote Desktop Services farm (issue 7).

The product's adapter will, over LDAP with ``ldap3``: create a user in a per-client OU under
``OU=Clients,DC=seatmeter,DC=test``, add them to the client's RDS users group, remove them from it,
disable or delete the user, and list group members for SPLA true-ups. This module provisions a
throw-away domain (SEATMETER.TEST) into a temporary folder once per test session, runs ``samba`` as a
child process and stops it at the end. Facts checked with Samba 4.17.12 (Debian 12) and ldap3 2.9.1:

* Packages: ``samba-ad-dc`` (samba, dsdb modules) and ``samba-ad-provision`` (the AD schema files;
  only *recommended*, so ``--no-install-recommends`` leaves it out and provisioning fails).
  Provisioning takes about 4-5 s, start-up to the first LDAPS bind about 1.5 s (it generates its
  self-signed TLS certificate then) on an idle 2-core machine; 8 s + 5 s when it is busy. Stopping
  takes a second at most. Root is needed (ports below 1024).
* The smb.conf is written before ``samba-tool domain provision``, which then keeps it: that is the
  only way to get our settings in, because provision drops some ``--option`` values (it dropped
  ``ldap server require strong auth``). ``server services = ldap`` runs only the LDAP server: no
  SMB, KDC, NetBIOS, DNS or winbind, so only TCP 389, 636, 3268 and 3269 (global catalog) are
  bound, on 127.0.0.1 only. Those ports are fixed in Samba: the fixture fails clearly if one is
  taken (e.g. by a second test session on the same machine).
* Samba's default hardening is kept: a simple bind on plain 389 gets ``strongerAuthRequired``
  ("Transport encryption required"), so the fixture hands out LDAPS on 636, as production against
  real AD should use. StartTLS on 389 works too, but ldap3's ``start_tls()`` re-reads server info
  before the bind and AD refuses the anonymous schema read (00002020): use ``get_info=DSA`` there.
* LDAPS uses a self-signed certificate made at first start (private/tls/ca.pem, CN
  ``DC1.seatmeter.test``, no subjectAltName). ``tls_verify`` off works; full verification works with
  ``Tls(ca_certs_file=ca_file, valid_names=[tls_hostname])`` (ldap3 matches the CN itself).
* Setting ``unicodePwd`` works over LDAPS (ldap3's ``conn.extend.microsoft.modify_password``).
  Real AD refuses it on an unencrypted connection; Samba 4.17 does NOT (with strong auth turned off
  it accepted a password set on plain 389), so only the product's own rule keeps passwords on TLS.
* Password policy is on as in AD: at least 7 characters and 3 of 4 character classes, else
  ``constraintViolation`` (0000052D). A user added without a password is born disabled
  (``userAccountControl`` 546 = ACCOUNTDISABLE | PASSWD_NOTREQD); enabling must clear both bits.
  Samba lets 512 (enabled) be set without a password; Windows AD normally refuses that, so the
  product must set the password first, then enable.
* Disabled is bit 2 of ``userAccountControl``: 514 for a normal account. Set the bit, do not write a
  constant, or other flags (e.g. DONT_EXPIRE_PASSWORD 65536) are lost. A disabled user's bind fails
  with ``invalidCredentials`` and ``data 533`` in the message.
* Membership: ``member`` on the group, ``memberOf`` on the user (computed back-link, immediately
  consistent on this single DC; real multi-DC domains replicate with a delay). Nested groups need
  the in-chain rule ``(memberOf:1.2.840.113556.1.4.1941:=GROUP_DN)``; primary-group membership
  (``primaryGroupID``, e.g. Domain Users) never shows in ``member``. Windows caps one read of
  ``member`` at 1500 values (``member;range=0-1499``); ldap3's default ``auto_range=True`` follows
  the ranges, so keep it on (these small test groups never exercise it). Searches stop at 1000
  entries in AD: page them. Deleting a user drops it from its groups.
* An OU with children cannot be deleted (``notAllowedOnNonLeaf``) without the Tree delete control
  (1.2.840.113556.1.4.805, supported). Deleted names can be reused at once.
* Samba advertises no extended operations, so ldap3 refuses to send WhoAmI: check a
  connection by binding or reading the root DSE. sAMAccountName longer than 20 characters is
  accepted by Samba, but 20 is the limit Windows logon names keep to.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest
from ldap3.core.exceptions import LDAPException

from tests.standins.ports import stop_process

HOST = "127.0.0.1"
REALM = "SEATMETER.TEST"
NETBIOS_DOMAIN = "SEATMETER"
DC_HOSTNAME = "dc1"  # fixed, so the certificate name does not depend on the machine's hostname
BASE_DN = "DC=seatmeter,DC=test"
CLIENTS_DN = f"OU=Clients,{BASE_DN}"
ADMIN_DN = f"CN=Administrator,CN=Users,{BASE_DN}"
LDAP_PORT, LDAPS_PORT = 389, 636
# Fixed by Samba, not configurable: LDAP, LDAPS and the global catalog's two.
SAMBA_PORTS = (LDAP_PORT, LDAPS_PORT, 3268, 3269)
APT_PACKAGES = "samba-ad-dc samba-ad-provision"
INSTALL_HINT = f"apt-get install -y --no-install-recommends {APT_PACKAGES}"
AD_SCHEMA_DIR = Path("/usr/share/samba/setup/ad-schema")
PROVISION_TIMEOUT = 120.0
START_TIMEOUT = 30.0
# Unix sockets live under the work dir (msg.sock/PID, private/ldap_priv/ldapi): sun_path is
# 108 bytes, so a long --basetemp could make Samba fail at start; such a workdir moves to /tmp.
MAX_WORKDIR_LEN = 70

# interfaces = the address, not "lo" (that binds ::1 too). Everything Samba writes stays in workdir
# (nothing under /var/lib/samba or /etc). "ldap server require strong auth" keeps its default (yes).
SMB_CONF = """\
[global]
\tnetbios name = {netbios_name}
\tworkgroup = {workgroup}
\trealm = {realm}
\tserver role = active directory domain controller
\tserver services = ldap
\tinterfaces = {host}
\tbind interfaces only = yes
\tidmap_ldb:use rfc2307 = yes
\tprivate dir = {workdir}/private
\tlock directory = {workdir}
\tstate directory = {workdir}/state
\tcache directory = {workdir}/cache
\tbinddns dir = {workdir}/bind-dns
\tpid directory = {workdir}/run
\tlog file = {workdir}/samba-file.log

[sysvol]
\tpath = {workdir}/state/sysvol
\tread only = no

[netlogon]
\tpath = {workdir}/state/sysvol/{dns_domain}/scripts
\tread only = no
"""


@dataclass(frozen=True)
class Directory:
    """Where the test directory is and how to bind to it, as the product's adapter will be told."""

    host: str
    port: int
    use_ssl: bool
    bind_dn: str
    bind_password: str
    base_dn: str
    kind: str  # always "samba-ad" here; "openldap" is kept for a possible slapd stand-in
    clients_dn: str  # parent of the per-client OUs
    ca_file: Path | None = None  # CA of the self-signed LDAPS certificate, for tls_verify tests
    tls_hostname: str | None = None  # the name in that certificate (not 127.0.0.1)
    log_path: Path | None = None

    def server(self, tls_verify: bool = False) -> ldap3.Server:
        """An ldap3 Server; with tls_verify the certificate is checked against ca_file and its name."""
        tls = None
        if self.use_ssl:
            if tls_verify:
                names = [self.tls_hostname] if self.tls_hostname else None
                tls = ldap3.Tls(
                    validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file), valid_names=names
                )
            else:
                tls = ldap3.Tls(validate=ssl.CERT_NONE)
        # get_info=ALL: schema (ldap3 then checks attribute names) plus the root DSE in server.info.
        return ldap3.Server(
            self.host, port=self.port, use_ssl=self.use_ssl, tls=tls, get_info=ldap3.ALL, connect_timeout=5
        )

    def connect(self, user: str | None = None, password: str | None = None) -> ldap3.Connection:
        """A bound connection (the administrator by default) that raises on any LDAP error."""
        return ldap3.Connection(
            self.server(),
            user=user or self.bind_dn,
            password=self.bind_password if password is None else password,
            auto_bind=True,
            raise_exceptions=True,
            receive_timeout=30,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def find_binary(name: str) -> str | None:
    """`name` on PATH, else in the sbin dirs a non-root PATH may lack (samba is in /usr/sbin)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin")


def missing_requirements() -> str | None:
    """Why the Samba AD stand-in cannot run here, or None if it can."""
    if find_binary("samba") is None or find_binary("samba-tool") is None:
        return f"samba / samba-tool not found; CI installs them with: {INSTALL_HINT}"
    if not AD_SCHEMA_DIR.is_dir():
        return f"samba-ad-provision (AD schema files) not installed; CI installs it with: {INSTALL_HINT}"
    if os.geteuid() != 0:
        return "the Samba AD DC must run as root (it binds ports 389/636/3268/3269)"
    return None


def busy_ports(host: str = HOST, ports: tuple[int, ...] = SAMBA_PORTS) -> list[int]:
    """The ports of `ports` that something else holds on host."""
    busy = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # SO_REUSEADDR: connections in TIME_WAIT from a previous session must not count as busy.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                busy.append(port)
    return busy


def check_ports() -> None:
    busy = busy_ports()
    if busy:
        raise RuntimeError(
            f"ports {busy} on {HOST} are in use; the Samba AD stand-in needs {list(SAMBA_PORTS)} "
            "(fixed by Samba). Another test session or a directory server may be running."
        )


def _tool_env() -> dict[str, str]:
    # samba-tool is a /usr/bin/python3 script: a virtualenv's PYTHONPATH/PYTHONHOME would break
    # its `import samba`; the rest of the environment is kept.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def provision(workdir: Path, admin_password: str) -> Path:
    """Write smb.conf and provision a fresh domain in workdir; return the smb.conf path."""
    conf = workdir / "etc" / "smb.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    (workdir / "run").mkdir(exist_ok=True)
    conf.write_text(
        SMB_CONF.format(
            netbios_name=DC_HOSTNAME.upper(),
            workgroup=NETBIOS_DOMAIN,
            realm=REALM,
            host=HOST,
            workdir=workdir,
            dns_domain=REALM.lower(),
        )
    )
    argv = [
        find_binary("samba-tool") or "samba-tool",
        "domain",
        "provision",
        "--use-rfc2307",
        f"--realm={REALM}",
        f"--domain={NETBIOS_DOMAIN}",
        "--server-role=dc",
        "--dns-backend=NONE",  # no DNS server: nothing here resolves SRV records, and no port 53
        f"--host-name={DC_HOSTNAME}",
        f"--adminpass={admin_password}",
        f"--targetdir={workdir}",  # keeps every file in workdir, and uses our existing smb.conf
    ]
    log_path = workdir / "provision.log"
    with log_path.open("wb") as log:
        result = subprocess.run(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=_tool_env(),
            timeout=PROVISION_TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        # The argv carries the password, so only the log is shown.
        output = log_path.read_text(errors="replace")
        raise RuntimeError(f"samba-tool domain provision failed ({result.returncode})\n{output}")
    return conf


def stop_samba(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM samba, wait, then sweep its process group in case it had to be SIGKILLed."""
    stop_process(proc)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(proc: subprocess.Popen[bytes], info: Directory, timeout: float) -> str | None:
    """Poll with an LDAPS bind until it succeeds; None when ready, else what went wrong.

    The port accepting connections is not enough: Samba makes its TLS key after it starts."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with code {proc.returncode} during start-up"
        try:
            info.connect().unbind()
            return None
        except LDAPException as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    return f"no successful LDAPS bind on {info.host}:{info.port} within {timeout:.0f}s ({last})"


def start_samba(
    workdir: Path, conf: Path, admin_password: str, timeout: float = START_TIMEOUT
) -> tuple[subprocess.Popen[bytes], Directory]:
    """Start samba in the foreground on the provisioned domain and wait for an LDAPS bind."""
    check_ports()
    log_path = workdir / "samba.log"
    info = Directory(
        host=HOST,
        port=LDAPS_PORT,
        use_ssl=True,
        bind_dn=ADMIN_DN,
        bind_password=admin_password,
        base_dn=BASE_DN,
        kind="samba-ad",
        clients_dn=CLIENTS_DN,
        ca_file=workdir / "private" / "tls" / "ca.pem",
        tls_hostname=f"{DC_HOSTNAME}.{REALM.lower()}",
        log_path=log_path,
    )
    samba = find_binary("samba") or "samba"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            # -i: foreground, log to stdout (our log file); -M single: one process, nothing to fork.
            [samba, "-i", "-M", "single", "-s", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=_tool_env(),
            start_new_session=True,  # own process group, so stop_samba can sweep it
        )
    problem = _wait_ready(proc, info, timeout)
    if problem:
        stop_samba(proc)
        raise RuntimeError(f"samba did not start: {problem}\n--- {log_path} ---\n{info.log()}")
    return proc, info


def delete_children(conn: ldap3.Connection, dn: str) -> int:
    """Delete everything below dn (not dn itself), deepest first; return how many were deleted.

    Deepest first instead of the Tree delete control keeps this plain LDAP (works on any server)."""
    # Paged: a plain search would stop at the server's size limit (1000 in AD).
    found = conn.extend.standard.paged_search(
        dn, "(objectClass=*)", search_scope=ldap3.SUBTREE, attributes=[], paged_size=500, generator=False
    )
    below = [entry["dn"] for entry in found if entry.get("type") == "searchResEntry"]
    below = [d for d in below if d.lower() != dn.lower()]
    # More RDNs = deeper; escaped commas (\,) inside an RDN do not change the order of parents.
    below.sort(key=lambda d: d.replace("\\,", "").count(","), reverse=True)
    for child in below:
        conn.delete(child)
    return len(below)


def _admin_password() -> str:
    # Meets AD complexity whatever the random part: upper S and X, lower m, digit 9, symbol '-'.
    return f"Sm-{os.urandom(8).hex()}-X9"


@pytest.fixture(scope="session")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    """A Samba AD DC for the whole session: LDAPS on 127.0.0.1:636, an empty OU=Clients."""
    reason = missing_requirements()
    if reason:
        # CI installs the packages; there a missing binary is a failure, never a silent skip.
        if os.environ.get("SEATMETER_REQUIRE_STANDINS"):
            pytest.fail(reason)
        pytest.skip(reason)
    with contextlib.ExitStack() as stack:
        workdir = tmp_path_factory.mktemp("directory")
        if len(str(workdir)) > MAX_WORKDIR_LEN:
            workdir = Path(tempfile.mkdtemp(prefix="seatmeter-dc-"))
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        check_ports()  # before the 5 s of provisioning, not after
        password = _admin_password()
        conf = provision(workdir, password)
        proc, info = start_samba(workdir, conf, password)
        stack.callback(stop_samba, proc)
        with info.connect() as conn:
            conn.add(info.clients_dn, "organizationalUnit")
        yield info


@pytest.fixture
def clean_directory(directory: Directory) -> Iterator[Directory]:
    """The session's directory with nothing below OU=Clients before and after the test."""
    with directory.connect() as conn:
        delete_children(conn, directory.clients_dn)
    yield directory
    with directory.connect() as conn:
        delete_children(conn, directory.clients_dn)

"""Sandbox platforms on 127.0.0.1: what `make run` provisions and bills against instead of the real ones.

* AWS WorkSpaces (hosted desktops): ``moto_server``, with the VPC, Directory Service directory and
  WorkSpaces registration that moto, like AWS, requires before a desktop can be made;
* Amazon WorkMail (mailboxes): our WorkMail stand-in (moto has no WorkMail backend);
* Stripe: localstripe, with the portal's webhook registered;
* QuickBooks Online: our stand-in of Intuit's OAuth and Accounting API (``sandbox/quickbooks_server.py``);
* ConnectWise PSA: our stand-in (``sandbox/connectwise_server.py``) with a company and an agreement
  for each demo client and a catalog item for each product, for the PSA sync's mapping and pages;
* the colo's Kamailio SIP registrar (VoIP seats): a real Kamailio when it is installed. Without it the
  VoIP seats are still written to Kamailio's subscriber table (an SQLite file), only no phone can
  register; :attr:`Sandbox.notes` says so.

The portal, worker and beat reach them through the settings a real installation uses
(``WORKSPACES_ENDPOINT_URL``, ``WORKMAIL_ORGANIZATION_ID``, ``STRIPE_API_BASE``, ``KAMAILIO_DB_URL`` ...),
collected in :attr:`Sandbox.env`, plus ``SEATMETER_SANDBOX=1``, which labels the console "Sandbox".
Never real credentials: the AWS keys are dummies and a developer's ~/.aws is hidden.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess  # nosec B404  # starts the local stand-ins
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from sandbox import kamailio as kamailio_standin
from sandbox.ports import LOOPBACK, free_port, start_server, stop_process

REGION = "us-east-1"
DUMMY_KEY_ID = "sandbox"
DUMMY_SECRET = "sandbox"  # nosec B105  # the local stand-ins' dummy credential
STRIPE_API_KEY = "sk_test_seatmeter_sandbox"  # localstripe accepts any sk_test_ key
SIP_DOMAIN = "voip.sandbox.test"  # .test never resolves to a real host
WORKMAIL_ALIAS = "northwind-sandbox"
WORKSPACES_BUNDLE_ID = "wsb-sandbox01"
CONNECTWISE_PUBLIC = "sandbox-public"
CONNECTWISE_PRIVATE = "sandbox-private"  # nosec B105  # the local stand-in's dummy key
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def aws_environment() -> dict[str, str]:
    """Dummy credentials, and no developer profile, endpoint or retry setting leaking in."""
    return {
        "AWS_ACCESS_KEY_ID": DUMMY_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }


def make_workspaces_directory(endpoint_url: str) -> str:
    """Build what moto's WorkSpaces needs and return a registered directory id.

    moto mirrors the real prerequisites: a Directory Service directory needs a VPC with two subnets in
    different AZs, and create_workspaces fails (ResourceNotFound.Directory) until the directory is
    registered with WorkSpaces.
    """
    kwargs = {
        "endpoint_url": endpoint_url,
        "region_name": REGION,
        "aws_access_key_id": DUMMY_KEY_ID,
        "aws_secret_access_key": DUMMY_SECRET,
    }
    ec2 = boto3.client("ec2", **kwargs)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.1.0/24", f"{REGION}a"), ("10.0.2.0/24", f"{REGION}b"))
    ]
    directory_id: str = boto3.client("ds", **kwargs).create_directory(
        Name="corp.sandbox.test",
        Password="Sandbox-Passw0rd",  # nosec B106  # a password on the local AWS stand-in (moto)
        Size="Small",
        VpcSettings={"VpcId": vpc_id, "SubnetIds": subnet_ids},
    )["DirectoryId"]
    boto3.client("workspaces", **kwargs).register_workspace_directory(DirectoryId=directory_id)
    return directory_id


def make_hand_made_desktop(endpoint_url: str, directory_id: str, user_name: str) -> str:
    """A WorkSpace made outside Seatmeter (in the AWS console), without the seat tags: the workers
    refuse to take it over, and the true-up reports it as an account nobody bills."""
    workspaces = boto3.client(
        "workspaces",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET,
    )
    result = workspaces.create_workspaces(
        Workspaces=[{"DirectoryId": directory_id, "UserName": user_name, "BundleId": WORKSPACES_BUNDLE_ID}]
    )
    workspace_id: str = result["PendingRequests"][0]["WorkspaceId"]
    return workspace_id


def leave_mailbox_behind(
    endpoint_url: str, organization_id: str, mail_domain: str, email: str, name: str
) -> None:
    """A WorkMail mailbox nobody removed when its person left: the true-up reports it as unbilled."""
    workmail = boto3.client(
        "workmail",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET,
    )
    user_id = workmail.create_user(
        OrganizationId=organization_id,
        Name=email,
        DisplayName=name,
        Password="Sandbox-Passw0rd!",  # nosec B106  # a password on the local AWS stand-in (moto)
    )["UserId"]
    address = f"{email.split('@', 1)[0]}@{mail_domain}"
    workmail.register_to_work_mail(OrganizationId=organization_id, EntityId=user_id, Email=address)


def register_stripe_webhook(api_base: str, url: str, secret: str) -> None:
    """localstripe has no WebhookEndpoint API; its own ``/_config/webhooks/<id>`` registers one."""
    form = urllib.parse.urlencode([("url", url), ("secret", secret)]).encode()
    request = urllib.request.Request(f"{api_base}/_config/webhooks/seatmeter", data=form, method="POST")
    with urllib.request.urlopen(request, timeout=10):  # nosec B310  # an http:// URL of the local stand-in, built here
        pass


@dataclass
class Sandbox:
    """The running sandbox: its settings for the portal, and what it could not offer (one line each)."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    kamailio: kamailio_standin.Kamailio | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _kamailio_proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self._kamailio_proc is not None:
            kamailio_standin.stop_kamailio(self._kamailio_proc)
            self._kamailio_proc = None
        while self.processes:
            stop_process(self.processes.pop())


def _python_server(module: str, args: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return start_server(
        [sys.executable, "-m", module, "--port", str(port), *args], port, log, cwd=PROJECT_ROOT
    )


def start_sandbox(workdir: Path, public_url: str) -> Sandbox:
    """Start every sandbox platform (logs in ``workdir``); on failure, stop what started and raise."""
    workdir.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(workdir=workdir)
    try:
        _start(sandbox, public_url)
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def _start(sandbox: Sandbox, public_url: str) -> None:
    # Imported here: `make run` starts the data setup before paying for importing the application.
    from portal.demo.services import HAND_MADE_DESKTOP, LEFTOVER_MAILBOX

    workdir = sandbox.workdir
    env = sandbox.env
    env.update(aws_environment())
    env["SEATMETER_SANDBOX"] = "1"
    # A try-out on 127.0.0.1 with published demo passwords: asking the reseller for an authenticator
    # app before the first page would only stand in the way (the banner says it is off).
    env["TWO_FACTOR_REQUIRED_ROLES"] = os.environ.get("TWO_FACTOR_REQUIRED_ROLES") or "none"

    moto_port = free_port()
    moto = [str(Path(sys.executable).parent / "moto_server"), "-H", LOOPBACK, "-p", str(moto_port)]
    sandbox.processes.append(start_server(moto, moto_port, workdir / "moto_server.log"))
    moto_url = f"http://{LOOPBACK}:{moto_port}"
    directory_id = make_workspaces_directory(moto_url)
    make_hand_made_desktop(moto_url, directory_id, HAND_MADE_DESKTOP)
    env.update(
        AWS_ENDPOINT_URL=moto_url,
        WORKSPACES_ENDPOINT_URL=moto_url,
        WORKSPACES_DIRECTORY_ID=directory_id,
        WORKSPACES_BUNDLE_ID=WORKSPACES_BUNDLE_ID,
    )

    # Real organization ids match ^m-[0-9a-f]{32}$; a fixed one keeps the setting the same each run.
    organization_id = f"m-{uuid.uuid5(uuid.NAMESPACE_DNS, WORKMAIL_ALIAS).hex}"
    workmail_port = free_port()
    organization = ["--organization", f"{organization_id}:{WORKMAIL_ALIAS}"]
    sandbox.processes.append(
        _python_server("sandbox.workmail_server", organization, workmail_port, workdir / "workmail.log")
    )
    env.update(
        WORKMAIL_ENDPOINT_URL=f"http://{LOOPBACK}:{workmail_port}",
        WORKMAIL_ORGANIZATION_ID=organization_id,
        WORKMAIL_MAIL_DOMAIN=f"{WORKMAIL_ALIAS}.awsapps.com",
    )
    leftover_name, leftover_email = LEFTOVER_MAILBOX
    leave_mailbox_behind(
        env["WORKMAIL_ENDPOINT_URL"],
        organization_id,
        env["WORKMAIL_MAIL_DOMAIN"],
        leftover_email,
        leftover_name,
    )

    stripe_port = free_port()
    sandbox.processes.append(_python_server("sandbox.stripe_server", [], stripe_port, workdir / "stripe.log"))
    stripe_base = f"http://{LOOPBACK}:{stripe_port}"
    webhook_secret = f"whsec_{secrets.token_hex(16)}"
    register_stripe_webhook(stripe_base, f"{public_url}/webhooks/stripe", webhook_secret)
    env.update(
        STRIPE_API_KEY=STRIPE_API_KEY, STRIPE_API_BASE=stripe_base, STRIPE_WEBHOOK_SECRET=webhook_secret
    )

    # QuickBooks Online: the console's "Connect to QuickBooks" signs in on the stand-in's consent page.
    quickbooks_port = free_port()
    quickbooks_id, quickbooks_secret = "ABsandbox-seatmeter", secrets.token_urlsafe(24)
    quickbooks_keys = ["--client-id", quickbooks_id, "--client-secret", quickbooks_secret]
    sandbox.processes.append(
        _python_server(
            "sandbox.quickbooks_server", quickbooks_keys, quickbooks_port, workdir / "quickbooks.log"
        )
    )
    env.update(
        QUICKBOOKS_CLIENT_ID=quickbooks_id,
        QUICKBOOKS_CLIENT_SECRET=quickbooks_secret,
        QUICKBOOKS_BASE_URL=f"http://{LOOPBACK}:{quickbooks_port}",
        # requests-oauthlib sends tokens over plain http only when told: the stand-in has no TLS.
        OAUTHLIB_INSECURE_TRANSPORT="1",
    )
    _start_connectwise(sandbox)

    env["SIP_DOMAIN"] = SIP_DOMAIN
    missing = kamailio_standin.missing_requirements()
    if missing is None:
        kamailio_dir = workdir / "kamailio"
        kamailio_dir.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (kamailio_dir / "kamailio.sqlite").unlink()
        proc, info = kamailio_standin.start_kamailio(kamailio_dir, domain=SIP_DOMAIN)
        sandbox._kamailio_proc, sandbox.kamailio = proc, info
        env["KAMAILIO_DB_URL"] = info.db_url
        # The seat page tells the client where its phones register.
        env["SIP_SERVER"] = f"{info.host}:{info.port}"
    else:
        # The adapter creates Kamailio's subscriber table itself: seats become active, phones cannot call.
        env["KAMAILIO_DB_URL"] = f"sqlite:///{workdir / 'kamailio-tables.sqlite'}"
        sandbox.notes.append(
            "Kamailio is not installed, so VoIP seats are written to its subscriber table but no phone "
            f"can register ({kamailio_standin.INSTALL_HINT})."
        )


def _start_connectwise(sandbox: Sandbox) -> None:
    """The PSA stand-in, holding what an MSP's ConnectWise would: its clients' companies, one
    agreement each, and a catalog item per product. Nothing is mapped: the reseller does that on
    the console's PSA mapping page. The demo's history was finalized before, so it records nothing."""
    from portal.catalog.services import DEFAULT_PRODUCTS
    from portal.demo.services import DEMO_CLIENTS

    port = free_port()
    keys = [
        "--company",
        "northwind",
        "--public-key",
        CONNECTWISE_PUBLIC,
        "--private-key",
        CONNECTWISE_PRIVATE,
    ]
    sandbox.processes.append(
        _python_server("sandbox.connectwise_server", keys, port, sandbox.workdir / "connectwise.log")
    )
    url = f"http://{LOOPBACK}:{port}"

    def seed(lists: dict[str, list[dict[str, object]]]) -> dict[str, list[int]]:
        request = urllib.request.Request(
            f"{url}/_control/seed",
            data=json.dumps(lists).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # nosec B310  # the local stand-in, built here
            seeded: dict[str, list[int]] = json.loads(answer.read())
        return seeded

    companies = seed(
        {"companies": [{"identifier": client.ref.title(), "name": client.name} for client in DEMO_CLIENTS]}
    )["companies"]
    seed({"agreements": [{"company_id": company, "name": "Managed licences"} for company in companies]})
    seed(
        {
            "catalog": [
                {"identifier": product.code.upper(), "description": product.name}
                for product in DEFAULT_PRODUCTS
            ]
        }
    )
    sandbox.env.update(
        CONNECTWISE_URL=url,
        CONNECTWISE_COMPANY_ID="northwind",
        CONNECTWISE_PUBLIC_KEY=CONNECTWISE_PUBLIC,
        CONNECTWISE_PRIVATE_KEY=CONNECTWISE_PRIVATE,
        CONNECTWISE_CLIENT_ID="sandbox-client-id",
    )


@contextlib.contextmanager
def running_sandbox(workdir: Path, public_url: str) -> Iterator[Sandbox]:
    sandbox = start_sandbox(workdir, public_url)
    try:
        yield sandbox
    finally:
        sandbox.stop()

"""The import contracts in pyproject.toml ([tool.importlinter]) hold, and each of them can fail.

``make lint`` runs the same ``lint-imports``; these tests keep the contracts honest when only the
test suite is run, and prove that a contract which could never break is not what keeps them green.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("portal", "provisioning", "metering")

# One import per contract that the contract must refuse: (module it is added to, the import).
VIOLATIONS = {
    "Outside provisioning, code imports only the names provisioning/__init__.py exports": (
        "portal/orders/seat_views.py",
        "from provisioning.seats import place_order",
    ),
    "Outside metering (provisioning included), code imports only the names metering/__init__.py exports": (
        "provisioning/trueup/settlements.py",
        "from metering.billing.close import close_client",
    ),
    "The engines never import portal's web layer": (
        "metering/rating.py",
        "from portal.api.errors import http_error_response",
    ),
    "Portal's kernel (db, config, models, services, celery, transactions) imports neither": (
        "portal/orders/queries.py",
        "import provisioning",
    ),
}


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # No cache: a run must read the source as it is now, and leave nothing behind.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def not_python_source(folder: str, names: list[str]) -> list[str]:
    """What copytree leaves out: templates, static files, caches (only imports are read)."""
    return [
        name
        for name in names
        if name == "__pycache__" or (not name.endswith(".py") and not (Path(folder) / name).is_dir())
    ]


def test_the_import_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(VIOLATIONS)} kept, 0 broken." in done.stdout


def test_each_contract_refuses_an_import_that_breaks_its_rule(tmp_path):
    # A copy of the source (Python files only) with one offending import per contract; lint-imports
    # puts its working directory first on sys.path, so it reads the copy, not the installed tree.
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=not_python_source)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, statement in VIOLATIONS.values():
        with (tmp_path / module).open("a") as source:
            source.write(f"\n{statement}\n")

    done = lint_imports(tmp_path)

    output = " ".join((done.stdout + done.stderr).split())  # undo the report's line wrapping
    assert done.returncode != 0, output
    assert f"Contracts: 0 kept, {len(VIOLATIONS)} broken." in output
    for contract, (module, _statement) in VIOLATIONS.items():
        assert contract in output
        assert module.removesuffix(".py").replace("/", ".") in output
    # A newcomer is told what to do, not only what is wrong.
    assert "export" in output and "add it to provisioning/__init__.py" in output

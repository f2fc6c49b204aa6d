"""Packaging: the lock matches pyproject.toml, and the product declares everything it imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PRODUCT_PACKAGES = ("portal", "provisioning", "metering")


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", text, re.MULTILINE)
    }


def _declared(group: str | None = None) -> list[Requirement]:
    project = PYPROJECT["project"]
    raw = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return [r for r in map(Requirement, raw) if canonicalize_name(r.name) != "seatmeter"]


def test_lock_pins_every_declared_requirement_within_its_range():
    """Fails when pyproject.toml changed and `make lock` was not run."""
    dev_pins, runtime_pins = _pins("dev.txt"), _pins("runtime.txt")
    stale = []
    for lock, pins, requirements in (
        ("runtime.txt", runtime_pins, _declared()),
        ("dev.txt", dev_pins, _declared() + _declared("test") + _declared("dev")),
    ):
        for requirement in requirements:
            pinned = pins.get(canonicalize_name(requirement.name))
            if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
                stale.append(f"{lock}: {requirement} (locked: {pinned})")
    assert not stale, "run `make lock`: " + "; ".join(stale)
    # One resolution: the image runs the very releases the tests ran.
    assert all(dev_pins.get(name) == version for name, version in runtime_pins.items())


def test_every_locked_release_carries_hashes():
    for lock in ("dev.txt", "runtime.txt"):
        entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements" / lock).read_text())
        unhashed = [e.split()[0] for e in entries if "==" in e.split("\n")[0] and "--hash=sha256:" not in e]
        assert not unhashed, f"{lock}: {unhashed}"


def test_tools_stay_out_of_the_runtime_and_stripe_is_capped():
    runtime = {canonicalize_name(r.name): r for r in _declared()}

    for tool in ("honcho", "pytest", "ruff", "mypy", "uv", "import-linter"):
        assert tool not in runtime
        assert tool not in _pins("runtime.txt")
    assert any(spec.operator == "<" for spec in runtime["stripe"].specifier)


def _imported_top_level_names() -> set[str]:
    names: set[str] = set()
    for package in PRODUCT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - set(PRODUCT_PACKAGES) - {"__future__"}


def test_every_package_the_product_imports_is_a_declared_runtime_dependency():
    declared = {canonicalize_name(r.name) for r in _declared()}
    distributions = packages_distributions()
    undeclared = {
        name: distributions.get(name, ["(not installed)"])
        for name in _imported_top_level_names()
        if not declared & {canonicalize_name(d) for d in distributions.get(name, [])}
    }
    assert not undeclared, f"imported but not in [project.dependencies]: {undeclared}"

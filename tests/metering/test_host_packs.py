"""Two-core packs a licensed host owes in a month, by edition and the VMs it ran (docs/spla-hosts.md)."""

from __future__ import annotations

import pytest

from metering.counting import HostEdition, edition_for_sku, host_core_packs, sql_vm_packs

STANDARD = HostEdition.WINDOWS_STANDARD
DATACENTER = HostEdition.WINDOWS_DATACENTER
SQL_STANDARD = HostEdition.SQL_STANDARD
SQL_ENTERPRISE = HostEdition.SQL_ENTERPRISE


def test_a_standard_host_of_16_cores_on_2_processors_running_6_vms_needs_24_packs():
    packs = host_core_packs(STANDARD, 16, 2, [None] * 6)
    print(f"Windows Server Standard, 16 cores on 2 processors, 6 VMs: {packs} two-core packs")
    assert packs == 24


def test_a_datacenter_host_with_the_same_cores_needs_8_packs():
    packs = host_core_packs(DATACENTER, 16, 2, [None] * 6)
    print(f"Windows Server Datacenter, 16 cores on 2 processors, 6 VMs: {packs} two-core packs")
    assert packs == 8


def test_a_sql_server_vm_with_2_vcpus_needs_2_packs():
    packs = host_core_packs(SQL_STANDARD, 16, 2, [2])
    print(f"SQL Server, one VM of 2 vCPUs: {packs} two-core packs")
    assert packs == 2
    assert sql_vm_packs(2) == 2


@pytest.mark.parametrize(
    ("vms", "packs"),
    [(0, 8), (1, 8), (2, 8), (3, 16), (4, 16), (5, 24), (10, 40)],
)
def test_standard_licenses_its_cores_again_per_further_two_vms(vms, packs):
    assert host_core_packs(STANDARD, 16, 2, [None] * vms) == packs


@pytest.mark.parametrize("vms", [0, 1, 2, 7, 50])
def test_datacenter_covers_any_number_of_vms(vms):
    assert host_core_packs(DATACENTER, 24, 2, [None] * vms) == 12


@pytest.mark.parametrize(
    ("cores", "processors", "packs"),
    # 8 cores per processor and 16 per host at least, whole two-core packs.
    [(4, 1, 8), (12, 2, 8), (20, 2, 10), (21, 2, 11), (24, 4, 16), (64, 4, 32)],
)
def test_windows_minimums_per_processor_and_per_host(cores, processors, packs):
    assert host_core_packs(DATACENTER, cores, processors, []) == packs


@pytest.mark.parametrize(("vcpus", "packs"), [(1, 2), (2, 2), (4, 2), (5, 3), (6, 3), (8, 4), (13, 7)])
def test_sql_server_licenses_each_vm_at_4_cores_or_more_in_two_core_packs(vcpus, packs):
    assert sql_vm_packs(vcpus) == packs


@pytest.mark.parametrize("edition", [SQL_STANDARD, SQL_ENTERPRISE])
def test_sql_server_packs_add_up_per_vm_whatever_the_host(edition):
    # 2 + 3 + 4: each VM on its own, not the host's 64 cores.
    assert host_core_packs(edition, 64, 2, [2, 6, 8]) == 9


def test_a_sql_host_with_no_vm_recorded_is_licensed_on_its_physical_cores():
    # Never zero for a host in service: 4 cores per processor at least, like licensing the host itself.
    assert host_core_packs(SQL_STANDARD, 6, 2, []) == 4
    assert host_core_packs(SQL_ENTERPRISE, 24, 2, []) == 12


def test_a_sql_vm_without_its_vcpus_cannot_be_counted():
    with pytest.raises(ValueError, match="every VM needs its vCPUs"):
        host_core_packs(SQL_STANDARD, 16, 2, [4, None])


@pytest.mark.parametrize("edition", list(HostEdition))
@pytest.mark.parametrize(("cores", "processors"), [(0, 2), (16, 0), (-4, 1)])
def test_a_host_without_cores_or_processors_is_refused(edition, cores, processors):
    with pytest.raises(ValueError, match="must be positive"):
        host_core_packs(edition, cores, processors, [])


@pytest.mark.parametrize(
    ("code", "edition"),
    [
        ("WINSTD-2CORE", STANDARD),
        ("WINDC-2CORE", DATACENTER),
        ("SQLSTD-2CORE", SQL_STANDARD),
        ("sqlent-2core", SQL_ENTERPRISE),
        ("OTHER-2CORE", DATACENTER),
    ],
)
def test_the_edition_a_sku_code_names(code, edition):
    assert edition_for_sku(code) is edition

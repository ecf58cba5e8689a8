"""The admin allow-list's checks: what a stored list may hold, who a list would shut out,
and when the server warns at start that the admin API is open."""

from __future__ import annotations

import pytest

from app.services import admin_access
from app.settings import Settings


def test_a_list_of_addresses_and_networks_is_kept_trimmed() -> None:
    assert admin_access.check_list([" 10.1.2.3", "192.168.1.0/24", "fd00::/8", "::1"]) == [
        "10.1.2.3", "192.168.1.0/24", "fd00::/8", "::1"]
    assert admin_access.check_list([]) == []


@pytest.mark.parametrize(("value", "message"), [
    ("10.0.0.1", "must be a list"),
    ([10], "must be a list"),
    (["10.0.0.1"] * 101, "at most 100"),
    (["office"], "has 'office', which is not an IP address or CIDR"),
    (["10.0.0.0/33"], "has '10.0.0.0/33'"),
])
def test_what_is_no_list_of_addresses_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        admin_access.check_list(value)


@pytest.mark.parametrize(("allow", "address", "out"), [
    (["10.1.2.0/24"], "10.1.2.3", False),
    (["10.1.2.0/24"], "10.1.3.3", True),
    (["10.1.2.3"], "::ffff:10.1.2.3", False),  # an IPv4 client on a dual-stack socket
    (["fe80::/10"], "fe80::1%eth0", False),
    (["10.0.0.0/8"], "::1", True),
    ([], "10.1.3.3", False),  # no list: nobody is shut out
    (["10.0.0.0/8"], "cli", False),  # the CLI comes over no network
])
def test_who_a_list_would_shut_out(allow: list[str], address: str, out: bool) -> None:
    assert admin_access.shuts_out(allow, address) is out


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_no_warning_where_only_this_machine_can_reach_the_admin_api(host: str) -> None:
    assert admin_access.startup_notice(Settings(host=host), setup_pending=True) is None


def test_a_loopback_server_behind_a_proxy_is_open_to_the_proxys_clients() -> None:
    settings = Settings(host="127.0.0.1", trusted_proxies=("127.0.0.1",),
                        admin_allow=("10.0.0.0/8",))
    assert admin_access.startup_notice(settings, setup_pending=True) is None  # a list: quiet
    assert admin_access.in_force(settings) == (["10.0.0.0/8"], "environment")

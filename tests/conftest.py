"""Test configuration. Real servers are started by session fixtures in tests/servers/ (one
module per server); each picks free loopback ports, records what it started and stops exactly
that. See DESIGN.md "Tests use real servers"."""

pytest_plugins = [
    "tests.skips",  # @pytest.mark.needs and --fail-on-skip (CI: no skip unless allowed)
    "tests.servers.postgres",
    "tests.servers.redis",
    "tests.servers.sshd",
    "tests.servers.moto",
    "tests.servers.sinks",
    "tests.servers.nginx",
]

"""runbooks/rotate/consumers.py: restart + health check of the services that read a secret,
against a real sshd host running a small web service (tests/rotate/service.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from breakglass.connectors.ssh import SSHHost
from breakglass.engine.findings import Outcome
from breakglass.errors import UsageError
from breakglass.runbooks.rotate.consumers import (
    Consumer,
    HealthPolicy,
    consumers_of,
    recovery_plan,
    restart_and_check,
    restart_line,
)
from tests.configs import make_app, make_config
from tests.rotate.hosts import ssh_host
from tests.rotate.service import Service, digest, install_service
from tests.servers._util import free_port
from tests.servers.sshd import SshdFactory, SshdServer

GOOD_ENV = "# app settings\nDEBUG=false\nSECRET_KEY=first-secret-value-0123456789\n"
QUICK = HealthPolicy(attempts=6, deadline=6.0, request_timeout=2.0, max_wait=0.5)


@pytest.fixture
def service(sshd_server: SshdServer) -> Iterator[Service]:
    svc = install_service(sshd_server, GOOD_ENV)
    yield svc
    svc.stop()


def _host(svc: Service, name: str = "web1", **extra: Any) -> SSHHost:
    settings: dict[str, Any] = {"restart": svc.restart_template,
                                   "health_url": svc.health_url}
    return ssh_host(svc.server, name, **{**settings, **extra})


def test_a_restarted_consumer_that_answers_its_health_check_is_ok(service: Service) -> None:
    (result,) = restart_and_check([Consumer("web1", "app")], {"web1": _host(service)},
                                  policy=QUICK)
    assert result.ok and result.code == "OK", result
    assert service.pid() is not None and result.finding() is None


def test_restart_starts_a_new_process_that_reads_the_env_file_again(service: Service) -> None:
    hosts = {"web1": _host(service)}
    restart_and_check([Consumer("web1", "app")], hosts, policy=QUICK)
    first = service.pid()
    service.env_file.write_text("SECRET_KEY=second-secret-value-0123456789\n")
    (result,) = restart_and_check([Consumer("web1", "app")], hosts, policy=QUICK)
    assert result.ok and service.pid() != first
    assert service.loaded_key_digest() == digest("second-secret-value-0123456789")


def test_a_consumer_that_cannot_boot_with_its_env_file_is_unhealthy(service: Service) -> None:
    service.env_file.write_text("SECRET_KEY=x\nthis line is broken\n")
    (result,) = restart_and_check([Consumer("web1", "app")], {"web1": _host(service)},
                                  policy=QUICK)
    assert not result.ok and result.code == "CONSUMER_UNHEALTHY"
    finding = result.finding()
    assert finding is not None and finding.outcome is Outcome.FAILED
    assert finding.evidence["url"] == service.health_url and finding.evidence["attempts"] > 1
    assert "NOT revoked" in finding.action


def test_a_failing_restart_command_is_consumer_restart_failed(service: Service) -> None:
    host = _host(service, restart="echo no such unit {service} >&2; exit 5")
    (result,) = restart_and_check([Consumer("web1", "app")], {"web1": host}, policy=QUICK)
    assert result.code == "CONSUMER_RESTART_FAILED"
    assert result.evidence["exit"] == 5 and "no such unit app" in result.detail


def test_a_health_command_over_ssh_is_checked(service: Service) -> None:
    host = _host(service, health_url=None, health_command=f"test -s {service.home}/app.pid")
    (result,) = restart_and_check([Consumer("web1", "app")], {"web1": host}, policy=QUICK)
    assert result.ok, result


def test_a_failing_health_command_is_unhealthy(service: Service) -> None:
    host = _host(service, health_url=None, health_command="exit 1")
    (result,) = restart_and_check([Consumer("web1", "app")], {"web1": host}, policy=QUICK)
    assert result.code == "CONSUMER_UNHEALTHY" and "exit 1" in result.detail


def test_no_health_check_configured_could_not_verify(service: Service) -> None:
    host = _host(service, health_url=None)
    (result,) = restart_and_check([Consumer("web1", "app")], {"web1": host}, policy=QUICK)
    finding = result.finding()
    assert finding is not None and finding.code == "CONSUMER_HEALTH_UNKNOWN"
    assert finding.outcome is Outcome.UNVERIFIED


def test_app_base_url_is_the_health_check_when_the_host_has_none(service: Service) -> None:
    app = make_app(f"http://127.0.0.1:{service.port}")
    (result,) = restart_and_check([Consumer("web1", "app")],
                                  {"web1": _host(service, health_url=None)}, app=app,
                                  policy=QUICK)
    assert result.ok and result.evidence["url"] == service.health_url


def test_an_unhealthy_host_stops_the_rolling_restart_before_the_next_host(
        service: Service, sshd_factory: SshdFactory) -> None:
    (second,) = sshd_factory.start(1)
    other = install_service(second, GOOD_ENV)
    try:
        service.env_file.write_text("broken\n")
        hosts = {"web1": _host(service), "web2": _host(other, "web2",
                                                       known_hosts=second.known_hosts)}
        results = restart_and_check([Consumer("web1", "app"), Consumer("web2", "app")], hosts,
                                    policy=QUICK)
        assert [r.code for r in results] == ["CONSUMER_UNHEALTHY", "CONSUMER_SKIPPED"]
        assert other.pid() is None  # never restarted
    finally:
        other.stop()
        second.close()


def test_an_unreachable_host_could_not_verify(sshd_server: SshdServer) -> None:
    down = SSHHost("web9", "127.0.0.1", free_port(), sshd_server.user,
                   known_hosts=sshd_server.known_hosts,
                   key_text=sshd_server.key_path.read_text(), health_url="http://127.0.0.1:1/")
    (result,) = restart_and_check([Consumer("web9", "app")], {"web9": down}, policy=QUICK)
    finding = result.finding()
    assert finding is not None and finding.code == "CONSUMER_UNREACHABLE"
    assert finding.outcome is Outcome.UNVERIFIED


def test_recovery_plan_restores_then_restarts_then_checks_each_host() -> None:
    web1 = SSHHost("web1", "203.0.113.5", 2222, "deploy", sudo=True,
                   health_url="https://web1.internal/healthz")
    web2 = SSHHost("web2", "203.0.113.6", 22, "deploy", restart="/srv/restart {service}")
    plan = recovery_plan(
        [Consumer("web1", "gunicorn"), Consumer("web1", "celery"), Consumer("web2", "gunicorn")],
        {"web1": web1, "web2": web2},
        restore={"web1": ["cp -p /srv/.env.bak /srv/.env"],
                 "web2": ["cp -p /srv/.env.bak /srv/.env"]})
    assert plan == [
        "ssh -p 2222 deploy@203.0.113.5 'cp -p /srv/.env.bak /srv/.env'",
        "ssh -p 2222 deploy@203.0.113.5 'sudo -n sh -c '\"'\"'systemctl restart gunicorn'"
        "\"'\"''",
        "ssh -p 2222 deploy@203.0.113.5 'sudo -n sh -c '\"'\"'systemctl restart celery'"
        "\"'\"''",
        "curl -fsS https://web1.internal/healthz",
        "ssh deploy@203.0.113.6 'cp -p /srv/.env.bak /srv/.env'",
        "ssh deploy@203.0.113.6 '/srv/restart gunicorn'",
    ]


def test_the_default_restart_is_systemctl_and_service_names_are_quoted() -> None:
    host = SSHHost("web1", "203.0.113.5", 22, "deploy")
    assert restart_line(host, "gunicorn") == "systemctl restart gunicorn"
    assert restart_line(host, "a b;rm") == "systemctl restart 'a b;rm'"


@pytest.mark.parametrize("text", ["web1", ":app", "web1:", "web1:app:x"])
def test_a_consumer_not_written_host_colon_service_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="HOST:SERVICE"):
        Consumer.parse(text)


def test_a_consumer_on_an_unconfigured_host_is_a_usage_error() -> None:
    config = make_config(hosts={"web1": {"address": "127.0.0.1", "user": "deploy"}},
                         secrets={"API": {"kind": "env_file", "consumers": ["web2:app"]}})
    with pytest.raises(UsageError, match=r"secrets\.API\.consumers: no \[hosts\.web2\]"):
        consumers_of(config, "API")

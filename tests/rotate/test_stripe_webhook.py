"""`breakglass rotate` of a Stripe webhook signing secret, through the real CLI: the real stripe
SDK against a strict local fake of the endpoint API, and a real app on an sshd host that checks
signatures with the stripe library. The new secret is accepted and the old one refused, never
more than two endpoints exist, --leaked deletes the old endpoint in the same run, a SIGKILL at
any step boundary is finished by `runs.resume`, and no value reaches any output."""

from __future__ import annotations

import json

import pytest
import stripe

from tests.rotate.stripe_fake import StripeFake, stripe_fake
from tests.rotate.stripe_project import (
    API_VERSION,
    EVENTS,
    NAME,
    StripeProject,
    post_signed,
    stripe_project,
)
from tests.servers.sinks import HttpSink

__all__ = ["stripe_fake", "stripe_project"]  # the fixtures, imported for pytest


def assert_rotated(proj: StripeProject) -> None:
    """The end state of every finished rotation (grace unset)."""
    assert proj.fake is not None and proj.app is not None
    new_id = proj.new_id()
    assert list(proj.fake.endpoints) == [new_id]
    new = proj.fake.endpoints[new_id]
    assert (new["url"], new["enabled_events"], new["api_version"], new["status"]) == (
        proj.app.webhook_url, EVENTS, API_VERSION, "enabled")
    assert proj.deployed() == new["secret"]
    assert post_signed(proj.app.webhook_url, new["secret"]) == 200
    assert post_signed(proj.app.webhook_url, proj.old_secret) == 400
    assert proj.fake.most <= 2
    assert proj.leaks(*proj.canaries()) == []


# -- the fake itself -----------------------------------------------------------------------------

def test_the_fake_refuses_a_call_it_was_not_prepared_for(stripe_fake: StripeFake) -> None:
    client = stripe.StripeClient(stripe_fake.api_key, base_addresses={"api": stripe_fake.url},
                                 max_network_retries=0)
    with pytest.raises(stripe.APIError):
        client.v1.customers.list()
    with pytest.raises(stripe.APIError):  # a known path with a parameter it does not take
        client.v1.webhook_endpoints.create({"url": "https://x.test/", "enabled_events": ["*"],
                                            "connect": True})
    assert len(stripe_fake.unexpected) == 2 and stripe_fake.endpoints == {}
    stripe_fake.unexpected.clear()  # proven; the fixture's own check would fail the test


def test_the_app_accepts_only_the_secret_it_loaded(stripe_project: StripeProject) -> None:
    assert stripe_project.app is not None
    url = stripe_project.app.webhook_url
    assert post_signed(url, stripe_project.old_secret) == 200
    assert post_signed(url, "whsec_" + "x" * 32) == 400


# -- rotations ---------------------------------------------------------------------------------

def test_dry_run_plans_both_endpoints_delivering_and_changes_nothing(
        stripe_project: StripeProject) -> None:
    assert stripe_project.fake is not None
    before = stripe_project.app.env_file.read_text() if stripe_project.app else ""
    r = stripe_project.run("rotate", NAME, "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ("[pin]", "[create]", "[deploy]", "[consumers]", "[verify_new]", "[revoke]",
                 "[verify_old]", "[delete]"):
        assert step in r.stdout, r.stdout
    assert "BOTH endpoints deliver every event" in " ".join(r.stdout.split())
    assert list(stripe_project.fake.endpoints) == [stripe_project.old_id]
    assert stripe_project.app is not None and stripe_project.app.env_file.read_text() == before


def test_rotation_replaces_the_endpoint_and_proves_the_old_secret_refused(
        stripe_project: StripeProject) -> None:
    r = stripe_project.run("rotate", NAME, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_rotated(stripe_project)
    assert stripe_project.fake is not None
    new = stripe_project.fake.endpoints[stripe_project.new_id()]
    assert new["metadata"]["breakglass_secret"] == NAME
    assert new["description"] == "billing webhooks"
    (run_id,) = stripe_project.run_ids()
    codes = {f["code"] for e in stripe_project.events(run_id) if e["type"] == "step_verified"
             for f in e["data"]["findings"]}
    assert "OLD_SECRET_REFUSED" in codes


def test_the_env_file_backups_holding_the_old_secret_are_deleted_when_the_run_succeeds(
        stripe_project: StripeProject) -> None:
    stripe_project.write('grace = "7d"\n')  # even while the old endpoint is kept
    r = stripe_project.run("rotate", NAME, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert stripe_project.app is not None
    server = stripe_project.app.server
    with server.connect() as client, client.open_sftp() as sftp:  # not breakglass's reading
        listing = sftp.listdir(str(stripe_project.app.home))
    (run_id,) = stripe_project.run_ids()  # the host is shared: other tests leave their own
    assert ".env" in listing and f".env.breakglass-{run_id}.bak" not in listing


def test_grace_keeps_the_old_endpoint_disabled_and_the_next_rotation_deletes_it_first(
        stripe_project: StripeProject) -> None:
    fake = stripe_project.fake
    assert fake is not None
    stripe_project.write('grace = "7d"\n')
    assert stripe_project.run("rotate", NAME, "--yes").returncode == 0
    first_new = stripe_project.new_id()
    assert fake.endpoints[stripe_project.old_id]["status"] == "disabled"
    # endpoint_id still names the first endpoint: the metadata tells which one is current.
    r = stripe_project.run("rotate", NAME, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert stripe_project.old_id not in fake.endpoints
    assert fake.endpoints[first_new]["status"] == "disabled"
    (second_new,) = set(fake.endpoints) - {first_new}
    assert stripe_project.deployed() == fake.endpoints[second_new]["secret"]
    assert fake.most == 2
    assert stripe_project.leaks(*stripe_project.canaries()) == []


def test_leaked_disables_then_deletes_the_old_endpoint_in_the_same_run_and_tells_both_owners(
        stripe_project: StripeProject, http_sink: HttpSink) -> None:
    stripe_project.notify_url = http_sink.apprise_url
    stripe_project.write('grace = "7d"\n')
    http_sink.clear()
    r = stripe_project.run("rotate", NAME, "--leaked", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_rotated(stripe_project)
    (run_id,) = stripe_project.run_ids()
    events = stripe_project.events(run_id)
    order = [e["data"]["step"] for e in events if e["type"] == "step_done"]
    assert order.index("revoke") < order.index("consumers")
    told = {e["data"]["person"] for e in events if e["type"] == "delivery" and e["data"]["ok"]}
    assert told == {"alice", "bob"}
    assert stripe_project.leaks(*stripe_project.canaries(), sink=http_sink) == []


POINTS = ["pin.after_apply", "create.mid", "create.after_apply", "create.after_verify",
          "deploy.after_verify", "consumers.after_apply", "consumers.after_verify",
          "verify_new.after_verify", "revoke.after_apply", "verify_old.after_verify",
          "delete.after_apply"]


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_a_step_boundary_is_finished_by_resume(stripe_project: StripeProject,
                                                         point: str) -> None:
    stripe_project.kill_at(point, NAME)
    (run_id,) = stripe_project.run_ids()
    r = stripe_project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert_rotated(stripe_project)
    if point == "create.mid":  # created, secret never written: deleted, not kept
        created = [e["data"]["result"] for e in stripe_project.events(run_id)
                   if e["type"] == "step_applied" and e["data"]["step"] == "create"]
        assert created[-1]["deleted"], created


# -- stops and refusals --------------------------------------------------------------------------

def leaked_stopped_by_a_500(proj: StripeProject) -> dict[str, object]:
    """A --leaked rotation during which Stripe answers 500 to disabling the old endpoint."""
    assert proj.fake is not None
    proj.fake.failing.add(f"POST /v1/webhook_endpoints/{proj.old_id}")
    r = proj.run("rotate", NAME, "--leaked", "--yes", "--json")
    assert "Traceback" not in r.stderr, r.stderr
    result: dict[str, object] = json.loads(r.stdout)
    assert r.returncode == result["exit_code"] == 1, r.stdout
    proj.fake.failing.clear()  # Stripe answers again
    return result


def test_leaked_a_500_on_disabling_says_first_that_the_leaked_endpoint_is_still_enabled(
        stripe_project: StripeProject, http_sink: HttpSink) -> None:
    fake = stripe_project.fake
    assert fake is not None
    stripe_project.notify_url = http_sink.apprise_url
    stripe_project.write()
    http_sink.clear()
    result = leaked_stopped_by_a_500(stripe_project)
    findings = result["findings"]
    assert isinstance(findings, list)
    first = findings[0]
    assert first["code"] == "LEAKED_STILL_LIVE", findings
    assert f"{stripe_project.old_id} is STILL LIVE" in first["message"]
    assert "Stripe lists it enabled" in first["message"]
    assert f"webhook_endpoints update {stripe_project.old_id} --disabled=true" in first["action"]
    assert "STRIPE_ERROR" in {f["code"] for f in findings}
    assert fake.endpoints[stripe_project.old_id]["status"] == "enabled"  # as Stripe says
    (run_id,) = stripe_project.run_ids()
    report = json.loads((stripe_project.state / "reports" / f"{run_id}.json").read_text())
    assert report["findings"][0]["code"] == "LEAKED_STILL_LIVE"
    failure = [r.decoded for r in http_sink.requests if b"LEAKED_STILL_LIVE" in r.decoded]
    assert len(failure) == 2, "both owners are told the leaked endpoint is still live"
    assert stripe_project.leaks(*stripe_project.canaries(), sink=http_sink) == []


def test_leaked_a_fresh_run_after_a_500_disables_the_leaked_endpoint_and_keeps_the_new_one(
        stripe_project: StripeProject) -> None:
    fake = stripe_project.fake
    assert fake is not None
    leaked_stopped_by_a_500(stripe_project)
    made = stripe_project.new_id()
    plan = stripe_project.run("rotate", NAME, "--leaked", "--dry-run")
    text = " ".join(plan.stdout.split())
    assert f"{made} already created by this rotation" in text and "delete we_" not in text, text
    r = stripe_project.run("rotate", NAME, "--leaked", "--yes", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["findings"][0]["code"] == "LEAKED_DEAD"
    assert stripe_project.new_id() == made  # continued: no third endpoint
    assert_rotated(stripe_project)



def test_leaked_resume_after_a_500_disables_the_leaked_endpoint(
        stripe_project: StripeProject) -> None:
    leaked_stopped_by_a_500(stripe_project)
    (run_id,) = stripe_project.run_ids()
    r = stripe_project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert_rotated(stripe_project)  # the leaked endpoint is gone, as the fake itself holds
    shown = json.loads(stripe_project.run("runs.show", run_id, "--json").stdout)
    assert shown["findings"][0]["code"] == "LEAKED_DEAD"


def test_an_unhealthy_consumer_stops_before_the_old_endpoint_is_disabled(
        stripe_project: StripeProject) -> None:
    fake = stripe_project.fake
    assert fake is not None
    stripe_project.write(extra='health_command = "false"')
    r = stripe_project.run("rotate", NAME, "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Recovery plan (CONSUMER_UNHEALTHY, web1:app):" in r.stdout, r.stdout
    text = " ".join(r.stdout.split())
    assert f"stripe webhook_endpoints delete {stripe_project.new_id()}" in text
    assert ".env.breakglass-" in text  # the env file's backup is put back
    assert fake.endpoints[stripe_project.old_id]["status"] == "enabled"
    assert len(fake.endpoints) == 2
    (run_id,) = stripe_project.run_ids()
    applied = {e["data"]["step"] for e in stripe_project.events(run_id)
               if e["type"] == "step_apply_started"}
    assert applied == {"pin", "create", "consumers"}
    assert stripe_project.leaks(*stripe_project.canaries()) == []


def test_an_app_that_accepts_any_signature_is_old_secret_still_valid(
        stripe_project: StripeProject, http_sink: HttpSink) -> None:
    stripe_project.write(f'webhook_url = "{http_sink.url}/stripe"\n')  # answers 200 to all
    r = stripe_project.run("rotate", NAME, "--yes", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    (found,) = [f for f in json.loads(r.stdout)["findings"]
                if f["code"] == "OLD_SECRET_STILL_VALID"]
    assert "forge" in found["message"]
    assert stripe_project.fake is not None
    assert stripe_project.old_id in stripe_project.fake.endpoints  # never deleted
    assert stripe_project.leaks(*stripe_project.canaries()) == []


def test_an_unreachable_webhook_url_could_not_verify_and_keeps_the_old_endpoint(
        stripe_project: StripeProject, http_sink: HttpSink) -> None:
    stripe_project.write(f'webhook_url = "{http_sink.down_url}stripe"\n')
    r = stripe_project.run("rotate", NAME, "--yes", "--json")
    assert r.returncode == 3, r.stdout + r.stderr
    (found,) = [f for f in json.loads(r.stdout)["findings"] if f["outcome"] == "unverified"]
    assert found["code"] == "WEBHOOK_UNREACHABLE", found
    assert stripe_project.fake is not None
    assert stripe_project.fake.endpoints[stripe_project.old_id]["status"] == "enabled"


def test_a_refused_api_key_could_not_verify_without_showing_it(
        stripe_project: StripeProject) -> None:
    wrong = "sk_test_wrong0123456789abcdef"
    r = stripe_project.run("rotate", NAME, "--dry-run",
                           env=stripe_project.env(STRIPE_SECRET_KEY=wrong))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Stripe refused the API key" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert stripe_project.leaks(wrong) == []


# -- bad configuration: exit 2, one line ------------------------------------------------------

def _one_line(proj: StripeProject) -> str:
    r = proj.run("rotate", NAME, "--dry-run")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    return line


def test_an_unknown_endpoint_id_is_exit_2(stripe_project: StripeProject) -> None:
    stripe_project.old_id = "we_doesnotexist"
    stripe_project.write()
    r = stripe_project.run("rotate", NAME, "--dry-run", "--json")
    assert r.returncode == 2, r.stdout + r.stderr
    (found,) = [f for f in json.loads(r.stdout)["findings"] if f["code"] == "USAGE_ERROR"]
    assert "Stripe has no webhook endpoint we_doesnotexist" in found["message"]


def test_a_missing_api_key_is_exit_2_naming_it(stripe_project: StripeProject) -> None:
    text = stripe_project.config.read_text().replace('api_key = "env:STRIPE_SECRET_KEY"\n', "")
    stripe_project.config.write_text(text)
    assert 'api_key is required for kind = "stripe_webhook"' in _one_line(stripe_project)


def test_no_consumers_is_exit_2(stripe_project: StripeProject) -> None:
    text = stripe_project.config.read_text().replace('consumers = ["web1:app"]\n', "")
    stripe_project.config.write_text(text)
    assert "consumers: a stripe_webhook rotation writes" in _one_line(stripe_project)


def test_a_plain_http_api_base_off_this_machine_is_exit_2(stripe_project: StripeProject
                                                          ) -> None:
    assert stripe_project.fake is not None
    text = stripe_project.config.read_text().replace(stripe_project.fake.url,
                                                     "http://api.stripe.example")
    stripe_project.config.write_text(text)
    assert "would travel unencrypted" in _one_line(stripe_project)

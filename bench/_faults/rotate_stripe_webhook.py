"""`rotate` of a Stripe webhook signing secret (kind stripe_webhook): the strict Stripe fake of
tests/rotate/stripe_fake.py, and the webhook app of tests/rotate/stripe_app.py on an sshd host
(it checks every signature with the real `stripe` library, its secret read from ~/.env).

Faults: SIGKILL at every boundary (normal and --leaked; `create.mid` is the endpoint made, the
env file not yet written), once undone; the Stripe fake stopped before `create` and before a
--leaked `revoke` (the leaked endpoint stays enabled and must be said to be live); the host's
sshd stopped before the app's restart.

Read from the fake's own state (endpoints, their status and secrets, the most that ever
existed at once), over SFTP (the secret in ~/.env) and by posting signed events to the app:
one endpoint left, enabled, whose secret is the deployed one and which the app accepts; the
old secret refused; never more than two endpoints; no `.env.breakglass-*.bak` left. After
`runs.undo`: the old endpoint is enabled and the app accepts its secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench._faults.rotate import (
    APPLIED,
    CHECKED,
    ENTRY,
    LEAKED,
    WITH_MID,
    RotateProject,
    RotateScenario,
    host_toml,
    sftp_read,
    sshd_away,
)
from bench._faults.scenario import Fault, Scenario, register
from breakglass.runbooks.rotate.dotenv_format import read_value
from tests.cli_project import CliProject
from tests.rotate.stripe_app import StripeApp, install_stripe_app
from tests.rotate.stripe_fake import StripeFake, start
from tests.rotate.stripe_project import API_VERSION, EVENTS, post_signed, start_app

NAME = "STRIPE_WEBHOOK_SECRET"
ACCEPTED, REFUSED = 200, 400


@dataclass
class StripeProject(RotateProject):
    fake: StripeFake | None = None
    http: ThreadingHTTPServer | None = None
    app: StripeApp | None = None
    old_id: str = ""
    old_secret: str = ""

    def deployed(self) -> str | None:
        assert self.app is not None
        return read_value(sftp_read(self.app.server, self.app.env_file), NAME)

    def accepts(self, secret: str | None) -> bool:
        assert self.app is not None
        return secret is not None and post_signed(self.app.webhook_url, secret) == ACCEPTED

    def stop_fake(self) -> None:
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
            self.http = None


@register
class StripeWebhookScenario(RotateScenario):
    runbook = "rotate.stripe_webhook"
    steps = (("pin", APPLIED), ("create", WITH_MID), ("deploy", CHECKED), ("consumers", APPLIED),
             ("verify_new", CHECKED), ("revoke", APPLIED), ("verify_old", CHECKED),
             ("delete", APPLIED), ("cleanup", APPLIED))
    leaked_steps = (("create", WITH_MID), ("revoke", APPLIED), ("consumers", APPLIED),
                    ("verify_old", CHECKED), ("delete", APPLIED), ("cleanup", APPLIED))
    undo_at = "create.after_apply"
    quick = ("stripe down @ revoke.before_apply --leaked",)

    @classmethod
    def outages(cls) -> list[Fault]:
        return [Fault("stripe down", "create.before_apply", _stripe_away, _stripe_back),
                Fault("stripe down", "revoke.before_apply", _stripe_away, _stripe_back,
                      extra=LEAKED),
                Fault("host down", "consumers.before_apply", *sshd_away(0))]

    def setup(self, work: Path) -> CliProject:
        fake = StripeFake()
        proj = StripeProject(work, servers=self.lab.hosts(1), fake=fake, http=start(fake))
        proj.more_env = {"STRIPE_SECRET_KEY": fake.api_key}
        proj.app = app = install_stripe_app(proj.servers[0], "")
        proj.old_id, proj.old_secret = fake.add_endpoint(app.webhook_url, EVENTS, API_VERSION,
                                                         description="billing webhooks")
        app.env_file.write_text(f"# app settings\nDEBUG=false\n{NAME}={proj.old_secret}\n")
        start_app(app)
        proj.body = host_toml("web1", app.server, app.restart_template,
                              f'health_url = "{app.health_url}"')
        proj.body += (f'[secrets.{ENTRY}]\nkind = "stripe_webhook"\n'
                      f'endpoint_id = "{proj.old_id}"\napi_key = "env:STRIPE_SECRET_KEY"\n'
                      f'api_base = "{fake.url}"\npath = "{app.env_file}"\nkey = "{NAME}"\n'
                      'consumers = ["web1:app"]\n')
        proj.write()
        return proj

    def check(self, proj: CliProject, run_id: str) -> str | None:
        assert isinstance(proj, StripeProject) and proj.fake is not None
        wrong = [w for w in [super().check(proj, run_id)] if w]
        if proj.fake.most > 2:
            wrong.append(f"{proj.fake.most} endpoints existed at once")
        if proj.fake.unexpected:
            wrong.append(f"unexpected calls to Stripe: {proj.fake.unexpected}")
        return "; ".join(wrong) or None

    def rotated(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, StripeProject) and proj.fake is not None
        deployed = proj.deployed()
        live = [e for e in proj.fake.endpoints.values() if e["status"] == "enabled"]
        return [what for what, bad in [
            (f"{len(proj.fake.endpoints)} endpoints remain, {len(live)} enabled",
             len(proj.fake.endpoints) != 1 or len(live) != 1),
            ("the deployed secret is not the live endpoint's",
             [e["secret"] for e in live] != [deployed]),
            ("the app refuses the deployed secret", not proj.accepts(deployed)),
            ("the app still accepts the old secret", proj.accepts(proj.old_secret))] if bad]

    def kept(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, StripeProject) and proj.fake is not None
        old = proj.fake.endpoints.get(proj.old_id)
        deployed = proj.deployed()
        live = {e["secret"] for e in proj.fake.endpoints.values() if e["status"] == "enabled"}
        return [what for what, bad in [
            ("the old endpoint is not enabled", old is None or old["status"] != "enabled"),
            ("the app refuses the old secret", not proj.accepts(proj.old_secret)),
            ("the deployed secret is no enabled endpoint's", deployed not in live)] if bad]

    def values(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, StripeProject) and proj.fake is not None
        made = [str(e["secret"]) for e in proj.fake.endpoints.values()]
        return [proj.old_secret, *made, proj.fake.api_key]

    def teardown(self, proj: CliProject) -> None:
        super().teardown(proj)
        assert isinstance(proj, StripeProject)
        proj.stop_fake()
        if proj.app is not None:
            proj.app.stop()
            for leftover in proj.app.home.glob(".env*"):
                leftover.unlink()


def _stripe_away(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, StripeProject)
    proj.stop_fake()


def _stripe_back(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, StripeProject) and proj.fake is not None
    proj.http = start(proj.fake)  # on its own port again: `api_base` stays right

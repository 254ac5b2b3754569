"""A project folder for `breakglass rotate` of a Stripe webhook secret: the Stripe fake
(tests/rotate/stripe_fake.py), one sshd host running the webhook app (stripe_app.py), and the
CLI in a subprocess (RotateProject: SIGKILL, resume, canary checks)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from breakglass.runbooks.rotate.dotenv_format import read_value
from tests.rotate.aws_project import RotateProject
from tests.rotate.stripe_app import StripeApp, install_stripe_app
from tests.rotate.stripe_fake import StripeFake
from tests.servers.sshd import SshdServer

NAME = "STRIPE_WEBHOOK_SECRET"
EVENTS = ["invoice.paid", "customer.subscription.deleted", "checkout.session.completed"]
API_VERSION = "2024-06-20"


@dataclass
class StripeProject(RotateProject):
    moto: Any = None  # no AWS here
    fake: StripeFake | None = None
    app: StripeApp | None = None
    old_id: str = ""
    old_secret: str = ""

    def write(self, secrets: str = "", extra: str = "") -> None:
        assert self.app is not None and self.fake is not None
        server = self.app.server
        owners = ""
        if self.notify_url:
            owners = ('[owners]\nkey_rotation = ["alice"]\nincident_response = ["bob"]\n\n'
                      f'[people.alice]\nnotify = ["{self.notify_url}alice"]\n\n'
                      f'[people.bob]\nnotify = ["{self.notify_url}bob"]\n\n')
        host = (f'[hosts.web1]\naddress = "{server.host}"\nport = {server.port}\n'
                f'user = "{server.user}"\nkey = "file:{server.key_path}"\n'
                f'known_hosts = "{server.known_hosts}"\n'
                f'restart = "{self.app.restart_template}"\n')
        if "health_" not in extra:
            host += f'health_url = "{self.app.health_url}"\n'
        self.config.write_text(
            '[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
            f"{owners}{host}{extra}\n\n"
            f'[secrets.{NAME}]\nkind = "stripe_webhook"\nendpoint_id = "{self.old_id}"\n'
            f'api_key = "env:STRIPE_SECRET_KEY"\napi_base = "{self.fake.url}"\n'
            f'path = "{self.app.env_file}"\nconsumers = ["web1:app"]\n{secrets}')

    def env(self, **more: str) -> dict[str, str]:
        assert self.fake is not None
        return {**os.environ, "STRIPE_SECRET_KEY": self.fake.api_key, **more}

    # -- what the tests look at ------------------------------------------------------------

    def deployed(self) -> str | None:
        assert self.app is not None
        return read_value(self.app.env_file.read_text(), NAME)

    def new_id(self) -> str:
        assert self.fake is not None
        (new,) = [i for i in self.fake.endpoints if i != self.old_id]
        return new

    def canaries(self) -> list[str]:
        assert self.fake is not None
        return [self.old_secret, *(e["secret"] for e in self.fake.endpoints.values()),
                self.fake.api_key]


def post_signed(url: str, secret: str, event_id: str = "evt_test_1") -> int:
    """What Stripe does: POST an event signed with `secret` (the SDK's own signing)."""
    payload = f'{{"id":"{event_id}","object":"event","type":"invoice.paid","data":{{}}}}'
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return httpx.post(url, content=payload, headers={"Stripe-Signature": header},
                      timeout=10).status_code


def start_app(app: StripeApp) -> None:
    code, out, err = app.server.run(f"{app.home}/restart.sh app")
    assert code == 0, out + err
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(app.health_url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            assert time.monotonic() < deadline, (app.home / "app.log").read_text()
            time.sleep(0.1)


@pytest.fixture
def stripe_project(tmp_path: Path, sshd_server: SshdServer, stripe_fake: StripeFake
                   ) -> Iterator[StripeProject]:
    """The app runs with the secret of an endpoint 'made by hand' (no breakglass metadata)."""
    app = install_stripe_app(sshd_server, "")
    old_id, old_secret = stripe_fake.add_endpoint(app.webhook_url, EVENTS, API_VERSION,
                                                  description="billing webhooks")
    app.env_file.write_text(f"# app settings\nDEBUG=false\n{NAME}={old_secret}\n")
    start_app(app)
    proj = StripeProject(tmp_path, fake=stripe_fake, app=app, old_id=old_id,
                         old_secret=old_secret)
    proj.write()
    try:
        yield proj
    finally:
        proj.stop_started()  # only what this test started
        app.stop()

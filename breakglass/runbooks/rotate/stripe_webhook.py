"""`kind = "stripe_webhook"`: the signing secret (whsec_…) of a Stripe webhook endpoint.

Stripe's API cannot change an endpoint's secret while keeping the old one valid (the dashboard's
"Roll secret" can; the API cannot), so a rotation is a second endpoint
(https://docs.stripe.com/api/webhook_endpoints/create) with the old one's URL, enabled events,
API version and description. While both exist, Stripe delivers every event twice, each copy
signed with its own endpoint's secret: the app accepts the copy signed with the secret it loaded
and refuses the other, which Stripe retries (https://docs.stripe.com/webhooks#retries). No event
is lost; handlers must be idempotent by event id (Stripe's own advice), as a rolling restart
may accept both copies.

    create      create the endpoint, then write its secret to KEY in the env file at `path` on
                every consumer host (the store layer, stores/dotenv_hosts.py: atomic, a 0600
                backup, every host or none). One step: Stripe returns the secret only in the
                create answer
    deploy      finish writing it on hosts a stop left without it
    consumers   restart the consumers: the app loads the new secret
    verify_new  POST a signed probe event to `webhook_url`: the app must answer 2xx
    revoke      disable the old endpoint (its copies stop)
    verify_old  the same probe signed with the old secret must be refused (400/401/403):
                OLD_SECRET_STILL_VALID otherwise — anyone holding it could forge events
    delete      delete the old endpoint after `grace`
    cleanup     delete this run's backups of the env files (they hold the old secret)

The link between Stripe and the env files is metadata on the endpoints breakglass creates:
`breakglass_secret` (the secret's name), `breakglass_run` (the run), `breakglass_digest` (a
sha256 prefix of the signing secret, as in the journal: it identifies, it does not reveal). So a
resumed run knows its endpoint, a later rotation knows which endpoint is current without
editing `endpoint_id`, and an endpoint whose secret never reached a host (a stop between create
and write) is deleted before creating another: never more than two endpoints. Old values are
read again from where they are (the env file, or its backup made by this run), never from the
journal.
"""

from __future__ import annotations

import json
import re
import secrets as _random
import time
import urllib.parse
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field

from breakglass.config.base import NonEmpty, SecretRef, http_url
from breakglass.connectors import stripe
from breakglass.engine.findings import Finding, Severity, as_ok
from breakglass.engine.runbook import StepContext
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.runbooks.rotate.base import Cred, Kind, KindSpec, Snapshot, run_ids
from breakglass.runbooks.rotate.settings import EnvLine
from breakglass.runbooks.rotate.stores import value_digest
from breakglass.runbooks.rotate.stores.dotenv_hosts import DotenvHosts

if TYPE_CHECKING:
    from breakglass.config import Config

DEFAULT_API = "https://api.stripe.com"
PROBE_TYPE = "breakglass.rotation_probe"
SECRET, RUN, DIGEST, RETIRED = ("breakglass_secret", "breakglass_run", "breakglass_digest",
                                "breakglass_retired")
REFUSED = (400, 401, 403)  # what an app answers to a bad signature (Stripe's examples: 400)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


HttpUrl = Annotated[str, AfterValidator(http_url)]


class Settings(EnvLine):
    """`[secrets.NAME]` with `kind = "stripe_webhook"`: the signing secret goes to `key` (default:
    the secret's NAME) in the env file at `path` on the consumers' hosts."""

    kind: Literal["stripe_webhook"]
    endpoint_id: NonEmpty | None = Field(
        None, description="the Stripe webhook endpoint in use now", examples=["we_1Nx…"])
    api_key: SecretRef | None = Field(
        None, description="a secret ref to a Stripe key that may write webhook endpoints",
        examples=["env:STRIPE_SECRET_KEY"])
    webhook_url: HttpUrl | None = Field(
        None, description="the URL probed with signed events (default: the endpoint's url)")
    api_base: HttpUrl | None = Field(
        None, description="Stripe's API address: only for a proxy or a test server")
    required = ("endpoint_id", "api_key", "path")


class StripeWebhookKind(Kind[Settings]):
    noun = "webhook endpoint"
    separate_deploy = True  # deploy finishes an env-file write a stop interrupted

    def __init__(self, secret: str, cfg: Settings, config: Config) -> None:
        super().__init__(secret, cfg, config)
        from breakglass.runbooks.rotate.consumers import consumers_of

        where = f"secrets.{secret}"
        if not cfg.consumers:
            raise UsageError(f"{where}.consumers: a stripe_webhook rotation writes the signing "
                             f"secret to {cfg.path} on the consumers' hosts and restarts them; "
                             'name at least one (e.g. consumers = ["web1:gunicorn"])')
        self.env_key = cfg.key or secret
        if not _ENV_NAME.fullmatch(self.env_key):
            raise UsageError(f'{where}: "{self.env_key}" is not an env variable name; set key')
        self.api_base = (cfg.api_base or DEFAULT_API).rstrip("/")
        host = urllib.parse.urlsplit(self.api_base).hostname or ""
        if self.api_base.startswith("http:") and host not in ("127.0.0.1", "localhost", "::1"):
            raise UsageError(f"{where}.api_base: the API key would travel unencrypted; use "
                             "https:// (http:// only for a local test server)")
        self.hosts = list(dict.fromkeys(c.host for c in consumers_of(config, secret)))
        self.store = DotenvHosts(config, secret, self.hosts, str(cfg.path), self.env_key)
        self._api: stripe.StripeApi | None = None

    @property
    def where(self) -> str:
        return f"Stripe, and {self.env_key} in {self.cfg.path} on {', '.join(self.hosts)}"

    # -- reading ----------------------------------------------------------------------------

    def api(self, ctx: StepContext) -> stripe.StripeApi:
        if self._api is None:  # one client per run; the key is registered by the resolver
            self._api = stripe.StripeApi(ctx.secret(str(self.cfg.api_key)), self.api_base)
        return self._api

    @property
    def cleans_up(self) -> bool:
        return True

    def leftovers(self, ctx: StepContext) -> list[str]:
        return self.store.leftovers(ctx)

    def clean_up(self, ctx: StepContext) -> dict[str, Any]:
        return self.store.clean_up(ctx)

    def _values(self, ctx: StepContext, *, backup: bool = False, only_first: bool = False
                ) -> dict[str, str | None]:
        """host -> the value of KEY in its env file (or in this run's backup of it); every
        value read is registered with the redactor before anything can print it."""
        # The first write of the rotation made the backup: a run that continues an earlier one
        # reads that run's backup (it holds the value from before either run).
        first = run_ids(self, ctx)[-1]
        return {name: self.store.value_on(ctx, conn, backup_of=first if backup else None)
                for name, conn in self.store.each(ctx, self.hosts[:1] if only_first else None)}

    def current(self, ctx: StepContext) -> Cred:
        first = next(iter(self._values(ctx, only_first=True).values()))
        for ep in self.api(ctx).list():
            if _ours(ep, self.secret) and first and ep["status"] == "enabled" and \
                    ep["metadata"].get(DIGEST) == value_digest(first):
                return Cred(ep["id"], note=f"its secret is in {self.cfg.path}")
        endpoint = str(self.cfg.endpoint_id)
        if self.api(ctx).get(endpoint) is None:
            raise UsageError(f"secrets.{self.secret}.endpoint_id: Stripe has no webhook "
                             f"endpoint {endpoint} (in the account of api_key)")
        return Cred(endpoint)

    def start_findings(self, ctx: StepContext) -> list[Finding]:
        values = self._values(ctx)
        digests = {value_digest(v) for v in values.values()}
        if len(digests) == 1 and None not in values.values():
            return []
        return [self.finding(
            "SECRET_DIFFERS_BETWEEN_HOSTS", f"the consumer hosts do not hold one {self.env_key}"
            f" in {self.cfg.path}: " + ", ".join(
                f"{h}: {'missing' if v is None else 'sha256 ' + value_digest(v)}"
                for h, v in values.items()),
            "make every host hold the secret of the endpoint in use, then rotate")]

    def snapshot(self, ctx: StepContext, old_id: str) -> Snapshot:
        endpoints = {ep["id"]: ep for ep in self.api(ctx).list()}
        digests = {h: value_digest(v) for h, v in self._values(ctx).items()}
        old = endpoints.get(old_id)
        state = "gone" if old is None else ("current" if old["status"] == "enabled"
                                            else "revoked")
        new = next((ep for ep in endpoints.values() if ep["id"] != old_id
                    and ep["metadata"].get(RUN) in run_ids(self, ctx)
                    and ep["metadata"].get(DIGEST) in digests.values()), None)
        orphans = tuple(Cred(ep["id"], ep["status"], _orphan_note(ep)) for ep in
                        endpoints.values() if _ours(ep, self.secret)
                        and ep["id"] not in (old_id, new and new["id"]))
        like = old or new or {}
        facts = {"url": like.get("url"), "events": len(like.get("enabled_events") or []),
                 "api_version": like.get("api_version"),
                 "restore": self.store.restore_lines(run_ids(self, ctx)[-1]),
                 "hosts": digests, "new_digest": new["metadata"][DIGEST] if new else None}
        deployed = new is not None and set(digests.values()) == {facts["new_digest"]}
        return Snapshot(Cred(old_id, state), Cred(new["id"]) if new else None, deployed,
                        orphans, facts)

    # -- changing ---------------------------------------------------------------------------

    def create(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        api = self.api(ctx)
        for orphan in snap.orphans:
            api.delete(orphan.id)
        old = api.get(snap.old.id)
        if old is None:
            raise UsageError(f"secrets.{self.secret}: the endpoint {snap.old.id} no longer "
                             "exists in Stripe: nothing to copy the URL and events from")
        params: dict[str, Any] = {
            "url": old["url"], "enabled_events": old["enabled_events"],
            "description": old.get("description") or f"{self.secret} (rotated by breakglass)",
            "metadata": {SECRET: self.secret, RUN: ctx.run_id}}
        if old.get("api_version"):
            params["api_version"] = old["api_version"]
        if old.get("application"):
            params["connect"] = True  # a Connect endpoint stays one
        made = api.create(params)
        value = str(made["secret"])
        ctx.register_secret(value)
        # The digest links the endpoint to the env files; until it is set (and the value is on
        # a host) the endpoint is an orphan that the next observation deletes.
        api.update(made["id"], {"metadata": {DIGEST: value_digest(value)}})
        ctx.progress("write the signing secret to the env files", 1, len(self.hosts) + 1)
        changes = self.store.write(ctx, value)["hosts"]
        return {"endpoint_id": made["id"], "deleted": [o.id for o in snap.orphans],
                "hosts": changes}

    def deploy(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        want = snap.facts["new_digest"]
        values = self._values(ctx)
        value = next(v for v in values.values() if value_digest(v) == want)
        missing = [h for h, v in values.items() if value_digest(v) != want]
        return {"endpoint_id": snap.new.id if snap.new else None,
                "hosts": self.store.write(ctx, str(value), missing)["hosts"]}

    def revoke(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        # Tagged as ours, so that the next rotation deletes it first if grace keeps it.
        self.api(ctx).update(snap.old.id, {"disabled": True, "metadata": {
            SECRET: self.secret, RETIRED: ctx.run_id}})
        return {"endpoint_id": snap.old.id, "status": "disabled"}

    def delete(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        return {"endpoint_id": snap.old.id, "deleted": self.api(ctx).delete(snap.old.id)}

    # -- proving ----------------------------------------------------------------------------

    def probe_url(self, snap: Snapshot) -> str:
        return str(self.cfg.webhook_url or snap.facts.get("url") or "")

    def probe(self, snap: Snapshot, value: str) -> int:
        """POST a probe event signed with `value` (real HMAC-SHA256, Stripe's v1 scheme) to the
        app; its HTTP status. An unreachable or failing app proves nothing: CouldNotVerify."""
        from breakglass.connectors import http

        url = self.probe_url(snap)
        event = {"id": f"evt_breakglass_{_random.token_hex(12)}", "object": "event",
                 "api_version": snap.facts.get("api_version"), "created": int(time.time()),
                 "livemode": False, "pending_webhooks": 0, "type": PROBE_TYPE,
                 "request": {"id": None, "idempotency_key": None},
                 "data": {"object": {"object": "breakglass_probe", "secret": self.secret}}}
        payload = json.dumps(event, separators=(",", ":"))
        header = stripe.sign(payload, value)
        resp = http.request("POST", url, content=payload.encode(), timeout=10.0, headers={
            "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header,
            "User-Agent": "breakglass (rotation probe; Stripe-Signature v1)"},
            code="WEBHOOK_UNREACHABLE", action="check webhook_url and that the app is up, then "
                                               "`breakglass runs.resume ID`")
        if resp.status_code >= 500:
            raise CouldNotVerify(f"{url} answered HTTP {resp.status_code} to a probe event: the "
                                 "app failed, so which secret it accepts is unknown",
                                 code="WEBHOOK_ERROR", action=f"make the app answer 2xx to an "
                                 f"event of unknown type ({PROBE_TYPE}), then resume")
        return resp.status_code

    def verify_works(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        if snap.new is None or not snap.deployed:
            return [self.finding("NEW_SECRET_NOT_DEPLOYED", f"not every consumer host holds the "
                                 f"new endpoint's secret in {self.cfg.path}",
                                 "resume the run: the deploy step writes it")]
        value = next(iter(self._values(ctx, only_first=True).values()))
        status = self.probe(snap, str(value))
        if 200 <= status < 300:
            return []
        return [self.finding(
            "NEW_SECRET_REFUSED", f"{self.probe_url(snap)} answered HTTP {status} to an event "
            f"signed with the new secret of {snap.new.id}",
            f"check that every consumer restarted and that the app reads {self.env_key} from "
            f"{self.cfg.path} (or set webhook_url to the app's webhook route); then resume",
            endpoint_id=snap.new.id, status=status)]

    def verify_refused(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        if snap.old.state == "current":
            return [self.finding("OLD_ENDPOINT_STILL_ENABLED", f"the old endpoint {snap.old.id} "
                                 "is still enabled in Stripe", "resume the run (step revoke "
                                 "disables it)", endpoint_id=snap.old.id)]
        value = self.old_value(ctx, snap.old.id)
        if value is None:
            raise CouldNotVerify(f"the old signing secret cannot be read back from "
                                 f"{self.hosts[0]} (this run's backup of {self.cfg.path})",
                                 code="OLD_SECRET_UNKNOWN", action="probe the app by hand with "
                                 "an event signed with the old secret")
        status = self.probe(snap, value)
        if 200 <= status < 300:
            return [self.finding(
                self.still_valid_code, f"{self.probe_url(snap)} still ACCEPTS an event signed "
                f"with the old secret (HTTP {status}): anyone holding it can forge events",
                "find the instance still running with the old value (every consumer restarted?"
                " a fallback list of secrets?), fix it, then `breakglass runs.resume ID`",
                Severity.CRITICAL, endpoint_id=snap.old.id, status=status)]
        if status not in REFUSED:
            raise CouldNotVerify(f"{self.probe_url(snap)} answered HTTP {status} to an event "
                                 "signed with the old secret: not a signature refusal",
                                 code="WEBHOOK_PROBE_INCONCLUSIVE", action="check webhook_url "
                                 "(the app's webhook route), then resume")
        return [as_ok(self.finding(
            "OLD_SECRET_REFUSED", f"the app refuses events signed with the old secret (HTTP "
            f"{status}); endpoint {snap.old.id} is {snap.old.state}", "nothing",
            endpoint_id=snap.old.id, status=status))]

    def live_evidence(self, ctx: StepContext, snap: Snapshot) -> str:
        return "Stripe lists it enabled: it still signs events with the leaked secret"

    def contain_text(self, snap: Snapshot) -> str:
        return f"`stripe webhook_endpoints update {snap.old.id} --disabled=true`"

    def old_value(self, ctx: StepContext, old_id: str) -> str | None:
        # This run's backup holds the file as it was before the first write (a resumed run
        # keeps the first backup); without one, the file was not written yet.
        backup = self._values(ctx, backup=True, only_first=True)[self.hosts[0]]
        if backup is not None:
            return backup
        return self._values(ctx, only_first=True)[self.hosts[0]]

    def recovery(self, snap: Snapshot) -> list[str]:
        lines = list(snap.facts.get("restore") or [])
        if snap.old.state == "revoked":
            lines.append(f"stripe webhook_endpoints update {snap.old.id} --disabled=false")
        if snap.new is not None:
            lines.append(f"stripe webhook_endpoints delete {snap.new.id}")
        return lines

    # -- words for the plan -----------------------------------------------------------------

    def create_text(self, snap: Snapshot) -> str:
        version = snap.facts.get("api_version") or "the account default"
        return (f"create a webhook endpoint like {snap.old.id} (url {snap.facts.get('url')}, "
                f"{snap.facts.get('events')} enabled events, API version {version}) and write "
                f"its signing secret to {self.env_key} in {self.cfg.path} on "
                f"{', '.join(self.hosts)} (one step: Stripe returns the secret only once). From "
                "here until the old endpoint is disabled, BOTH endpoints deliver every event, "
                "each copy signed with its own secret: the app accepts the copy matching the "
                "secret it loaded and refuses the other, which Stripe retries — handle events "
                "idempotently by event id")

    def deploy_text(self, snap: Snapshot) -> str:
        return (f"make sure every consumer host holds the new secret in {self.cfg.path} (create "
                "writes it; this finishes a write that a stop interrupted)")

    def revoke_text(self, snap: Snapshot) -> str:
        return (f"disable the old endpoint {snap.old.id} in Stripe: its copies of events stop "
                "(the app refuses their signature once restarted)")

    def delete_text(self, snap: Snapshot) -> str:
        return f"delete the old endpoint {snap.old.id} in Stripe"

    def verify_new_text(self) -> str:
        return (f"the app ({self.cfg.webhook_url or 'the endpoint URL'}) must accept a probe "
                "event signed with the new secret")

    def verify_old_text(self) -> str:
        return "the app must refuse the same probe signed with the old secret (400/401/403)"


def _ours(ep: dict[str, Any], secret: str) -> bool:
    return bool((ep.get("metadata") or {}).get(SECRET) == secret)


def _orphan_note(ep: dict[str, Any]) -> str:
    md = ep.get("metadata") or {}
    if md.get(RETIRED):
        return f"disabled by rotation {md[RETIRED]} and kept for its grace period"
    return (f"created by rotation {md.get(RUN, '?')}; its signing secret never reached the env "
            "files")



SPEC = KindSpec(Settings, StripeWebhookKind, docs="rotate.md#stripe_webhook",
                summary="the signing secret of a Stripe webhook endpoint (a second endpoint, "
                        "then the old one is disabled)")

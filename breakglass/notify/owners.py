"""Owners' notices through apprise (DESIGN principle 7: owners are told; a failed notice is
recorded, never fatal).

`[owners]` maps a responsibility to people, `[people.NAME].notify` lists each person's channels:
apprise URLs, or secret references to them (`env:ALICE_NOTIFY_URL`), because a channel URL
usually carries a token. Each channel gets its own `apprise.Apprise()` so that the fate of every
delivery is known separately (one Apprise object over many URLs only says "some failed").

Channels are sent to concurrently with bounded socket timeouts and a per-call deadline, so a
dead channel costs seconds, not the minutes of a default SMTP timeout. Nothing here raises for
a delivery problem: a channel that cannot be resolved, parsed or reached becomes a `Delivery`
with ok=False and a one-line error, which the engine journals and shows.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from breakglass.engine.hooks import Delivery, NoticeEvent
from breakglass.engine.redaction import Redactor
from breakglass.errors import BreakglassError
from breakglass.secrets import is_ref

if TYPE_CHECKING:
    from breakglass.engine.runbook import SecretResolver

# Socket timeouts (seconds) forced onto every channel, and the deadline of one send. apprise's
# defaults are 4 s for HTTP but 15 s to connect for SMTP.
CONNECT_TIMEOUT = 4.0
READ_TIMEOUT = 8.0
SEND_DEADLINE = 15.0
MAX_PARALLEL = 8

# A URL part that looks like a token (long run of token characters): registered with the
# redactor so that it is masked even when it appears without the rest of the URL.
_TOKENISH = re.compile(r"[A-Za-z0-9_\-+/=.]{12,}")


def is_channel_ref(entry: str) -> bool:
    """A `notify` entry is a secret reference unless it is written as a URL (the config's rule:
    `file:///…` is a URL there, `file:~/alice.url` a reference)."""
    return "://" not in entry and is_ref(entry)


def _hostname_like(host: str) -> bool:
    """True for a DNS name or an IP address; False for the tokens some apprise schemes put in
    the host position (`tgram://BOTTOKEN/…`, `discord://WEBHOOK_ID/…`)."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return "." in host and all(re.fullmatch(r"[A-Za-z0-9-]{1,63}", p) for p in host.split("."))


def mask_channel(url: str) -> str:
    """`scheme://host[:port]…` for people: enough to tell channels apart, never a token."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "(unparseable URL)"
    if not parts.scheme or "://" not in url:
        return "(unparseable URL)"
    try:
        port = parts.port
    except ValueError:  # `tgram://BOTID:TOKEN/…`: the "port" is a token
        port, host = None, ""
    if not host or not _hostname_like(host):
        return f"{parts.scheme}://…"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}…"


def register_channel_secrets(url: str, redactor: Redactor) -> None:
    """A channel URL is a credential: register it whole, plus the parts of it that carry
    tokens (password, a token in the host position, long path segments and query values)."""
    redactor.register(url)
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        password = parts.password
    except ValueError:
        return
    redactor.register(password)
    if host and not _hostname_like(host):
        redactor.register(parts.netloc)
        redactor.register(host)
        redactor.register(parts.netloc.rpartition("@")[2].partition(":")[2])
    pieces = parts.path.split("/") + [v for _, v in urllib.parse.parse_qsl(parts.query)]
    for piece in pieces:
        if "@" not in piece and _TOKENISH.fullmatch(piece) and not _hostname_like(piece):
            redactor.register(piece)


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class AppriseNotifier:
    """A Notifier (breakglass.engine.hooks) over `[owners]` and `[people]`."""

    def __init__(self, owners: Mapping[str, Sequence[str]],
                 channels: Mapping[str, Sequence[str]], secrets: SecretResolver,
                 redactor: Redactor, *, deadline: float = SEND_DEADLINE) -> None:
        self._owners = {k: list(v) for k, v in owners.items()}
        self._channels = {k: list(v) for k, v in channels.items()}
        self._secrets = secrets
        self._redactor = redactor
        self._deadline = deadline

    def owners_of(self, responsibility: str) -> list[str]:
        return list(dict.fromkeys(self._owners.get(responsibility, [])))

    def responsibilities_of(self, person: str) -> list[str]:
        return sorted(r for r, people in self._owners.items() if person in people)

    def people(self) -> list[str]:
        """Everyone named in [owners], in first-mentioned order."""
        return list(dict.fromkeys(p for people in self._owners.values() for p in people))

    def notify(self, responsibility: str, event: NoticeEvent, title: str,
               body: str) -> list[Delivery]:
        people = self.owners_of(responsibility)
        if not people:
            return [Delivery("-", "-", False, f"no owner for {responsibility}")]
        return self.send(people, event, title, body)

    def send(self, people: Iterable[str], event: NoticeEvent, title: str,
             body: str) -> list[Delivery]:
        """Send one notice to every channel of each person (each channel once per person)."""
        title, body = self._redactor.redact(title), self._redactor.redact(body)
        results: list[Delivery] = []
        ready: list[tuple[str, str]] = []  # (person, resolved URL)
        for person in people:
            entries = list(dict.fromkeys(self._channels.get(person, [])))
            if not entries:
                results.append(Delivery(person, "-", False,
                                        f"no notify channel for {person} ([people.{person}])"))
            for entry in entries:
                url, failure = self._resolve(person, entry)
                if failure is not None:
                    results.append(failure)
                else:
                    ready.append((person, url))
        if ready:
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ready)),
                                    thread_name_prefix="notify") as pool:
                results.extend(pool.map(
                    lambda pu: self._deliver(pu[0], pu[1], event, title, body), ready))
        return results

    def _resolve(self, person: str, entry: str) -> tuple[str, Delivery | None]:
        """The channel's URL, or the failed delivery saying why there is none. References are
        resolved here, one at a time, before any sending thread starts: resolvers hold boto3
        clients (aws-sm:, ssm:), which must not be created concurrently."""
        if is_channel_ref(entry):
            try:
                url = self._secrets.resolve(entry).strip()
            except BreakglassError as exc:  # an unresolvable reference: shown, never fatal
                return "", Delivery(person, entry, False,
                                    self._redactor.redact(_one_line(str(exc))))
        else:
            url = entry.strip()
        register_channel_secrets(url, self._redactor)
        return url, None

    def _deliver(self, person: str, url: str, event: NoticeEvent, title: str,
                 body: str) -> Delivery:
        try:
            error = _send(url, event, title, body, self._deadline)
        except Exception as exc:  # an apprise plugin bug must not end the run either
            error = f"{type(exc).__name__}: {exc}"
        red = self._redactor.redact
        return Delivery(person, red(mask_channel(url)), error is None,
                        red(_one_line(error or "")))


def _send(url: str, event: NoticeEvent, title: str, body: str, deadline: float) -> str | None:
    """Send through one apprise URL; None on success, else a one-line reason."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"apprise cannot use this URL (scheme {scheme!r} unknown or parts missing)"
    # Bound every socket operation: apprise only bounds the wait, a hung worker would still
    # hold the process at exit until its own (longer) timeout.
    plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), CONNECT_TIMEOUT)
    plugin.socket_read_timeout = min(float(plugin.socket_read_timeout), READ_TIMEOUT)
    ap = apprise.Apprise()
    ap.add(plugin)
    kwargs: dict[str, Any] = {"title": title, "body": body,
                              "notify_type": _NOTIFY_TYPE[event],
                              "body_format": apprise.NotifyFormat.TEXT}
    result: Any
    try:
        result = ap.notify(timeout=deadline, **kwargs)
    except TypeError:  # apprise < 2 has no per-call deadline
        result = ap.notify(**kwargs)
    if result:
        return None
    reasons = [entry.message for entry in getattr(result, "logs", list)()
               if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL")]
    status = getattr(result, "status", None)
    if not reasons and status is not None:
        reasons = [f"delivery {getattr(status, 'name', status).lower()}"]
    return "; ".join(reasons) or "delivery failed"


_NOTIFY_TYPE = {
    "start": "info",
    "success": "success",
    "failure": "failure",
    "approval": "warning",
    "test": "info",
}

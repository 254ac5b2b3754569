"""Owners' notices through apprise (DESIGN principle 7: owners are told; a failed notice is
recorded, never fatal).

`[owners]` maps a responsibility to people, `[people.NAME].notify` lists each person's channels:
apprise URLs, or secret references to them (`env:ALICE_NOTIFY_URL`), because a channel URL
usually carries a token. Each channel gets its own `apprise.Apprise()` so that the fate of every
delivery is known separately (one Apprise object over many URLs only says "some failed").

Notices never delay a change (DESIGN principle 9): `dispatch` returns at once, every channel is
sent to from its own thread (its notices in order) with bounded socket timeouts, and `wait()`
on the pending notice never waits past the deadline: a channel that hangs is a failed delivery
"timed out after 5s", not a run held up. The engine waits (bounded) for every notice before the
run ends, so each one is journaled as delivered or not before the process exits. Nothing here
raises for a delivery problem: a channel that cannot be resolved, parsed or reached becomes a
`Delivery` with ok=False and a one-line error, which the engine journals and shows.

What each channel receives (breakglass/notify/compose.py): a JSON document for `json://`
webhooks, Markdown where the apprise plugin renders it (Slack, Teams, Discord, Matrix, …), plain
text elsewhere (e-mail, SMS). Who receives it: the owners of the responsibility whose
`notify_on` (default: the run's own, see engine/hooks.py DEFAULT_EVENTS) includes the event.
"""

from __future__ import annotations

import functools
import ipaddress
import queue
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from breakglass.engine.hooks import Delivery, Notice, NoticeEvent
from breakglass.engine.redaction import Redactor
from breakglass.errors import BreakglassError
from breakglass.secrets import is_ref
from breakglass.text import one_line

if TYPE_CHECKING:
    from breakglass.secrets import SecretResolver

# The deadline of one notice to one channel, and the socket timeouts forced onto every channel
# (apprise's defaults are 4 s for HTTP but 15 s to connect for SMTP): a chat webhook answers in
# well under a second, an SMTP server with STARTTLS and a login in one or two.
SEND_DEADLINE = 5.0
CONNECT_TIMEOUT = 4.0
# how long `wait()` allows past the deadline for a send to return its own verdict
GRACE = 0.5
# a send queued behind others to the same channel starts within this many of their bounds
QUEUED_BOUND = 3
# apprise schemes of generic JSON webhooks: they receive compose.payload's fields as JSON
JSON_SCHEMES = ("json", "jsons")

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


@dataclass(frozen=True)
class Rendered:
    """One notice, redacted, in every format a channel may take."""

    event: NoticeEvent
    title: str
    text: str
    markdown: str
    payload: Mapping[str, Any]


class _Send:
    """One notice to one channel, as the waiting side sees it."""

    def __init__(self, person: str, channel: str) -> None:
        self.person, self.channel = person, channel
        self.future: Future[Delivery] = Future()
        self.queued = time.monotonic()
        # Set by the sending thread when it starts talking to the channel (apprise loaded,
        # the notices queued before it on this channel gone): the deadline counts from there.
        self.began = 0.0
        self.begun = threading.Event()

    def begin(self) -> None:
        self.began = time.monotonic()
        self.begun.set()


class Pending:
    """A notice on its way to some channels (engine.hooks.PendingNotice)."""

    def __init__(self, settled: list[Delivery], sends: Sequence[_Send] = (),
                 deadline: float = SEND_DEADLINE) -> None:
        self._settled = settled
        self._sends = list(sends)
        self._deadline = deadline

    def done(self) -> bool:
        return all(s.future.done() for s in self._sends)

    def wait(self) -> list[Delivery]:
        return self._settled + [self._result(s) for s in self._sends]

    def _result(self, s: _Send) -> Delivery:
        bound = self._deadline + GRACE
        timed_out = Delivery(s.person, s.channel, False, f"timed out after {self._deadline:g}s")
        # Queued behind sends to the same channel that hang: each of those gives up within
        # its own deadline (plus its socket timeouts), so this one starts within a few.
        if not s.begun.wait(timeout=max(0.0, s.queued + QUEUED_BOUND * bound
                                        - time.monotonic())):
            return timed_out
        try:
            return s.future.result(timeout=max(0.0, s.began + bound - time.monotonic()))
        except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError (3.11)
            return timed_out


class _Lane:
    """One channel's queue: its notices leave in the order they were sent ("started" before
    "succeeded"), one at a time, from a daemon thread. The engine waits for every notice
    (`Pending.wait`, bounded); a send still hanging past that has been recorded as not
    delivered, and must not hold the process at exit for its socket timeout."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[_Send, Callable[[], Delivery]]] = (
            queue.SimpleQueue())
        threading.Thread(target=self._run, name="notify", daemon=True).start()

    def submit(self, send: _Send, job: Callable[[], Delivery]) -> None:
        self._jobs.put((send, job))

    def _run(self) -> None:
        while True:
            send, job = self._jobs.get()
            send.future.set_result(job())  # job never raises (AppriseNotifier._deliver)


class AppriseNotifier:
    """A Notifier (breakglass.engine.hooks) over `[owners]` and `[people]`."""

    def __init__(self, owners: Mapping[str, Sequence[str]],
                 channels: Mapping[str, Sequence[str]], secrets: SecretResolver,
                 redactor: Redactor, *, chosen: Mapping[str, Iterable[str]] | None = None,
                 deadline: float = SEND_DEADLINE) -> None:
        self._owners = {k: list(v) for k, v in owners.items()}
        self._channels = {k: list(v) for k, v in channels.items()}
        self._chosen = {k: frozenset(v) for k, v in (chosen or {}).items()}
        self._secrets = secrets
        self._redactor = redactor
        self._deadline = deadline
        self._lock = threading.Lock()  # reference resolution: one at a time (see _resolve)
        self._lanes: dict[tuple[str, str], _Lane] = {}

    def owners_of(self, responsibility: str) -> list[str]:
        return list(dict.fromkeys(self._owners.get(responsibility, [])))

    def responsibilities_of(self, person: str) -> list[str]:
        return sorted(r for r, people in self._owners.items() if person in people)

    def people(self) -> list[str]:
        """Everyone named in [owners], in first-mentioned order."""
        return list(dict.fromkeys(p for people in self._owners.values() for p in people))

    def wants(self, person: str, notice: Notice) -> bool:
        """The run decides what it tells (notice.wanted: [notify_on] or the default); a person's
        own `notify_on` can only narrow that."""
        return notice.event in notice.wanted and notice.event in self._chosen.get(
            person, notice.wanted)

    def dispatch(self, responsibility: str, notice: Notice) -> Pending:
        owners = self.owners_of(responsibility)
        if not owners:
            told = notice.event in notice.wanted
            return Pending([Delivery("-", "-", False, f"no owner for {responsibility}")]
                           if told else [])
        return self.send([p for p in owners if self.wants(p, notice)], notice)

    def notify(self, responsibility: str, notice: Notice) -> list[Delivery]:
        """dispatch() and wait for the outcome (at most the deadline)."""
        return self.dispatch(responsibility, notice).wait()

    def send(self, people: Iterable[str], notice: Notice) -> Pending:
        """Start sending `notice` to every channel of each person (each channel once per
        person); returns at once."""
        from breakglass.notify import compose

        red = self._redactor
        rendered = Rendered(notice.event, red.redact(compose.title(notice)),
                            red.redact(compose.text(notice)),
                            red.redact(compose.markdown(notice)),
                            red.redact_obj(compose.payload(notice)))
        settled: list[Delivery] = []
        ready: list[tuple[str, str]] = []  # (person, resolved URL)
        for person in people:
            entries = list(dict.fromkeys(self._channels.get(person, [])))
            if not entries:
                settled.append(Delivery(person, "-", False,
                                        f"no notify channel for {person} ([people.{person}])"))
            for entry in entries:
                url, failure = self._resolve(person, entry)
                if failure is not None:
                    settled.append(failure)
                else:
                    ready.append((person, url))
        sends = []
        for person, url in ready:
            send = _Send(person, red.redact(mask_channel(url)))
            lane = self._lanes.setdefault((person, url), _Lane())
            lane.submit(send, functools.partial(self._deliver, send, url, rendered))
            sends.append(send)
        return Pending(settled, sends, self._deadline)

    def _resolve(self, person: str, entry: str) -> tuple[str, Delivery | None]:
        """The channel's URL, or the failed delivery saying why there is none. References are
        resolved here, one at a time, before any sending thread starts: resolvers hold boto3
        clients (aws-sm:, ssm:), which must not be created concurrently; each is resolved
        once per run (the resolver caches)."""
        if is_channel_ref(entry):
            try:
                with self._lock:
                    url = self._secrets.resolve(entry).strip()
            except BreakglassError as exc:  # an unresolvable reference: shown, never fatal
                return "", Delivery(person, entry, False,
                                    self._redactor.redact(one_line(str(exc), 200)))
        else:
            url = entry.strip()
        register_channel_secrets(url, self._redactor)
        return url, None

    def _deliver(self, send: _Send, url: str, rendered: Rendered) -> Delivery:
        try:
            error = _send(url, rendered, self._deadline, send.begin)
        except Exception as exc:  # an apprise plugin bug must not end the run either
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if not send.begun.is_set():
                send.begin()
        red = self._redactor.redact
        return Delivery(send.person, send.channel, error is None, red(one_line(error or "", 200)))


def _send(url: str, rendered: Rendered, deadline: float,
          begin: Callable[[], None]) -> str | None:
    """Send through one apprise URL, in the format its service reads best; None on success,
    else a one-line reason. Not bounded by apprise: `Pending.wait` gives up on it at the
    deadline, and its sockets time out soon after (the thread must end before the process)."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"apprise cannot use this URL (scheme {scheme!r} unknown or parts missing)"
    # Bound every socket operation: a hung send would hold the process at exit until its
    # own (longer) timeout. The read timeout is past the deadline, so that a channel that
    # hangs is reported "timed out after 5s" by Pending.wait, not as a socket error.
    plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), CONNECT_TIMEOUT,
                                        deadline)
    plugin.socket_read_timeout = deadline + 1.0
    declared: Any = plugin.notify_format
    formats = declared if isinstance(declared, tuple) else (declared,)
    body, body_format = rendered.text, apprise.NotifyFormat.TEXT
    if url.split("://", 1)[0].lower() in JSON_SCHEMES:
        # The webhook gets the facts as fields beside apprise's own (version, title, message,
        # type); the URL's own `:key=value` payload settings still win.
        extras = getattr(plugin, "payload_extras", {})
        setattr(plugin, "payload_extras", {**rendered.payload, **extras})  # noqa: B010
    elif apprise.NotifyFormat.MARKDOWN in formats:
        body, body_format = rendered.markdown, apprise.NotifyFormat.MARKDOWN
    ap = apprise.Apprise()
    ap.add(plugin)
    begin()
    # apprise >= 2 (pyproject's floor) returns an AppriseResult: true on success, else its
    # status and the plugin's log lines say why.
    result = ap.notify(title=rendered.title, body=body,
                       notify_type=_NOTIFY_TYPE[rendered.event], body_format=body_format)
    if result:
        return None
    reasons = [entry.message for entry in result.logs()
               if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return "; ".join(reasons) or f"delivery {result.status.name.lower()}"


_NOTIFY_TYPE = {
    "start": "info",
    "success": "success",
    "failure": "failure",
    "unverified": "failure",
    "approval": "warning",
    "test": "info",
    "incident": "warning",
}

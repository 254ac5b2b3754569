"""webhook_signature (seed §14, §10): an event with an invalid signature, and one correctly
signed but with a stale timestamp, are rejected.

Signatures are Stripe's scheme (`Stripe-Signature: t=TIMESTAMP,v1=HMAC-SHA256(secret,
"TIMESTAMP.PAYLOAD")`, docs.stripe.com/webhooks#verify-manually), made with stripe's own
`WebhookSignature.generate_signature_header`. With the endpoint's real secret the drill first
sends a correctly signed, fresh event as a control: a 4xx for the bad ones then means the
signature was checked — not that, say, CSRF middleware refuses every POST. The event's type,
`breakglass.drill`, is one no handler acts on.
"""

from __future__ import annotations

import json
import secrets as _random
import time
from collections.abc import Callable

from breakglass.drills.scenarios.base import Probe, Result, failed, not_configured, passed, unclear
from breakglass.errors import CouldNotVerify

REJECTING = (400, 401, 403)


def _event() -> str:
    return json.dumps({"id": f"evt_breakglass_{_random.token_hex(8)}", "object": "event",
                       "type": "breakglass.drill", "created": int(time.time()),
                       "data": {"object": {"id": "breakglass_drill"}}, "livemode": False})


def webhook_signature(p: Probe) -> Result:
    wh = p.cfg.webhook_signature
    if wh is None:
        raise not_configured("webhook_signature", "no [drills.scenarios.webhook_signature] path")
    from breakglass.connectors.stripe import sign

    secret = p.secret(wh.secret) if wh.secret else None
    client = p.http.client()

    def post(note: str, signer: Callable[[str], str]) -> int:
        payload = _event()
        return p.http.send(client, "POST", wh.path, content=payload, note=note,
                           headers={"Content-Type": "application/json",
                                    wh.header: signer(payload)}).status

    seen: dict[str, int] = {}
    if secret is not None:
        seen["control"] = post("valid signature (control)", lambda body: sign(body, secret))
        if not 200 <= seen["control"] < 300:
            raise CouldNotVerify(f"{wh.path} answered {seen['control']} to a correctly signed "
                                 "event: a rejection of the bad ones would prove nothing",
                                 code="CONTROL_FAILED", action="check webhook_signature.path "
                                 "and .secret (the endpoint's signing secret in staging)")
    # A well-formed header whose HMAC was made with a secret nobody has.
    wrong = "whsec_" + _random.token_hex(16)
    seen["invalid"] = post("invalid signature", lambda body: sign(body, wrong))
    if secret is not None:
        stale = int(time.time() - wh.stale_by.total_seconds())
        seen["stale"] = post("stale timestamp", lambda body: sign(body, secret, timestamp=stale))
    accepted = [k for k in ("invalid", "stale") if k in seen and 200 <= seen[k] < 300]
    if accepted:
        code = "INVALID_SIGNATURE_ACCEPTED" if "invalid" in accepted else \
            "STALE_SIGNATURE_ACCEPTED"
        what = " and ".join("an invalid signature" if a == "invalid" else "a stale timestamp"
                            for a in accepted)
        return failed(code, f"{wh.path} accepted an event with {what} (answers: {seen})",
                      "verify every event with stripe.Webhook.construct_event(payload, header, "
                      "secret) (it checks the timestamp too: tolerance 300 s) and answer 400 "
                      "when it raises", answers=seen)
    for k in ("invalid", "stale"):
        if k in seen and seen[k] not in REJECTING:
            raise unclear(f"{wh.path} ({k} signature)", seen[k],
                          "accepted (2xx) nor rejected (400/401/403)")
    checked = "invalid and stale signatures" if secret else \
        "an invalid signature (no secret: stale timestamp and control not tried)"
    return passed("SIGNATURE_REJECTED", f"{wh.path} rejected {checked}", answers=seen,
                  control=secret is not None)

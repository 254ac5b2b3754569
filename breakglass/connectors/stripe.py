"""Stripe, through its official SDK: the webhook-endpoint calls of the stripe_webhook rotation
(runbooks/rotate/stripe_webhook.py) and the v1 webhook signature (Stripe-Signature) that the
rotation's probe and the webhook scenario drill sign events with. Stripe's errors stop here:

    refused key (401, 403)                      CouldNotVerify STRIPE_AUTH_FAILED
    API unreachable                             CouldNotVerify STRIPE_UNREACHABLE
    any other error answer                      CouldNotVerify STRIPE_ERROR
    404 on read or delete                       None / False: the endpoint is absent

(a refused key or an unreachable API means nothing was proven: exit 3). The SDK is imported when
a call is made: the CLI imports the runbook modules at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from breakglass.errors import CouldNotVerify


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header of `payload` signed with `secret` (HMAC-SHA256, scheme v1,
    https://docs.stripe.com/webhooks#verify-manually); `timestamp` None: now."""
    import stripe

    return str(stripe.WebhookSignature.generate_signature_header(payload, secret,
                                                                 timestamp=timestamp))


class StripeApi:
    """The webhook-endpoint calls, through the official SDK; its errors become one-line
    CouldNotVerify (exit 3): a refused key or an unreachable API means nothing was proven."""

    def __init__(self, api_key: str, base: str) -> None:
        import stripe

        # Retries (on connection errors, 409, 5xx) carry an idempotency key the SDK adds to
        # POSTs, so a retried create never makes a second endpoint.
        self._client = stripe.StripeClient(api_key, base_addresses={"api": base},
                                           max_network_retries=2)

    def list(self) -> list[dict[str, Any]]:
        with _translated("list webhook endpoints"):
            # An account has at most 16 endpoints: one page of 100 holds them all.
            page = self._client.v1.webhook_endpoints.list({"limit": 100})
            return [e.to_dict() for e in page.data]

    def get(self, endpoint_id: str) -> dict[str, Any] | None:
        with _translated(f"read webhook endpoint {endpoint_id}"), _absent():
            return self._client.v1.webhook_endpoints.retrieve(endpoint_id).to_dict()
        return None

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        with _translated("create a webhook endpoint"):
            return self._client.v1.webhook_endpoints.create(params).to_dict()  # type: ignore[arg-type]

    def update(self, endpoint_id: str, params: dict[str, Any]) -> None:
        with _translated(f"update webhook endpoint {endpoint_id}"):
            self._client.v1.webhook_endpoints.update(endpoint_id, params)  # type: ignore[arg-type]

    def delete(self, endpoint_id: str) -> bool:
        with _translated(f"delete webhook endpoint {endpoint_id}"), _absent():
            self._client.v1.webhook_endpoints.delete(endpoint_id)
            return True
        return False  # already gone


@contextmanager
def _absent() -> Iterator[None]:
    """Swallow Stripe's 404 (resource_missing): the caller's fall-through means "absent"."""
    import stripe

    try:
        yield
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404:
            raise


@contextmanager
def _translated(what: str) -> Iterator[None]:
    import stripe

    try:
        yield
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        raise CouldNotVerify(f"Stripe refused the API key ({what}): {_msg(exc)}",
                             code="STRIPE_AUTH_FAILED",
                             action="check api_key: a secret key, or a restricted key with "
                                    "Webhook Endpoints: write") from None
    except stripe.APIConnectionError as exc:
        raise CouldNotVerify(f"cannot reach Stripe ({what}): {_msg(exc)}",
                             code="STRIPE_UNREACHABLE", action="check the network (and "
                             "api_base, if set), then `breakglass runs.resume ID`") from None
    except stripe.StripeError as exc:
        raise CouldNotVerify(f"Stripe answered HTTP {exc.http_status} ({what}): {_msg(exc)}",
                             code="STRIPE_ERROR", action="see https://status.stripe.com, then "
                             "`breakglass runs.resume ID`") from None


def _msg(exc: Any) -> str:
    return str(getattr(exc, "user_message", None) or exc).splitlines()[0][:200]

"""The delivery clients' exceptions, beneath `mappers.errors.AirmpError` (the tree is drawn
there). A client raises these; a result (`AirResult`, `DeliveryReport`) says everything
else, so a delivering agent (streams/delivery.py) catches only this branch."""

from __future__ import annotations

from mappers.errors import AirmpError


class DeliveryError(AirmpError):
    """A response that retrying cannot fix: stop, ack nothing, tell an operator."""

    def __init__(self, status: int, body: str, *, message: str | None = None) -> None:
        super().__init__(message or f"mParticle answered {status}: {body[:500]}")
        self.status = status
        self.body = body


class CredentialsRejected(DeliveryError):
    """401/403: the target refuses our credentials. Never retried: nothing a retry sends
    can succeed until an operator changes them, so the delivering path stops."""


class AuthenticationFailed(CredentialsRejected):
    """mParticle's 401/403: the API key or secret is wrong or lacks access."""


class AirCredentialsRejected(CredentialsRejected):
    """AIR's 401/403: it refuses the client id or secret."""

    def __init__(
        self, status: int, error_code: str | None, error_message: str | None, body: str
    ) -> None:
        code = f" {error_code}" if error_code else ""
        super().__init__(
            status,
            body,
            message=f"AIR answered {status}{code}: the AIR client id or secret is wrong or "
            f"lacks access ({(error_message or body)[:300]})",
        )
        self.error_code = error_code
        self.error_message = error_message


class NotSent(AirmpError):
    """The caller's `may_send` said no once the request had its turn: nothing was sent."""

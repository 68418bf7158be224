"""The HTTP checks: mParticle's and AIR's credentials, each with one request that the
service refuses after authenticating it, so nothing is recorded or rewarded.

mParticle: POST /v2/bulkevents with one batch mParticle cannot take (an environment that
is neither development nor production, no identity, no event). ASSUMPTION: mParticle
authenticates a request before it validates its body, so 401/403 means the key or secret
is wrong and 400 means they were accepted and only the body was refused. A 2xx would mean
it took even that batch: the credentials are right, and a batch with no identity and no
event reaches no profile.

AIR: a signed GET of a wallet transaction of wallet 0, which AIR does not have: 404 means
AIR checked the signature (AIR signs and checks every request before looking anything up)
and found no wallet; 401/403 means the client id or secret is wrong.
"""

from __future__ import annotations

import httpx
import orjson

from config import Settings
from mappers.vocabulary import BULK_PATH
from ops.check.rows import Row, fail, ok, skip
from sinks.air import AirClient, AirCredentialsRejected, AirResult

MPARTICLE = "mparticle credentials"
AIR = "air credentials"
REFUSED_BATCH = orjson.dumps([{"environment": "airmp-check"}])
AIR_WALLET, AIR_TRANSACTION = "0", "0"  # ids AIR never gives


def mparticle_row(status: int | None, detail: str = "") -> Row:
    """The row for mParticle's answer (`status` None: no answer, `detail` why)."""
    if status is None:
        return fail(
            MPARTICLE, f"no answer from mParticle ({detail}): check AIRMP_MPARTICLE_API_ENDPOINT"
        )
    if status == 400:
        return ok(MPARTICLE, "accepted (400 for a batch it cannot take, as asked)")
    if status in (401, 403):
        return fail(
            MPARTICLE,
            f"mParticle answered {status}: check AIRMP_MPARTICLE_API_KEY and "
            "AIRMP_MPARTICLE_API_SECRET",
        )
    if 200 <= status < 300:
        return ok(MPARTICLE, f"accepted ({status}, even for a batch with no identity)")
    return fail(MPARTICLE, f"mParticle answered {status}: cannot tell, try again")


async def probe_mparticle(settings: Settings) -> Row:
    if not settings.sink_enabled:
        return skip(MPARTICLE, "sink off (AIRMP_SINK_ENABLED=false)")
    key = settings.mparticle_api_key.get_secret_value()
    secret = settings.mparticle_api_secret.get_secret_value()
    if not key or not secret:
        return fail(MPARTICLE, "AIRMP_MPARTICLE_API_KEY or AIRMP_MPARTICLE_API_SECRET unset")
    url = settings.mparticle_api_endpoint + BULK_PATH
    headers = {"Content-Type": "application/json", "User-Agent": "airmp-check"}
    try:
        async with httpx.AsyncClient(timeout=settings.sink_timeout_seconds) as client:
            response = await client.post(
                url, content=REFUSED_BATCH, headers=headers, auth=httpx.BasicAuth(key, secret)
            )
    except httpx.TimeoutException:
        return mparticle_row(None, "timeout")
    except httpx.TransportError as exc:
        return mparticle_row(None, type(exc).__name__)
    return mparticle_row(response.status_code)


def air_row(result: AirResult | AirCredentialsRejected) -> Row:
    if isinstance(result, AirCredentialsRejected):
        return fail(
            AIR,
            f"AIR answered {result.status}: check AIRMP_AIR_CLIENT_ID and AIRMP_AIR_CLIENT_SECRET",
        )
    if result.status is None:
        return fail(AIR, f"no answer from AIR ({result.reason}): check AIRMP_AIR_WALLET_URL")
    if result.status == 404:
        return ok(AIR, "signature accepted (404 for a wallet that does not exist, as asked)")
    if result.done:
        return ok(AIR, f"signature accepted ({result.status})")
    code = f" {result.error_code}" if result.error_code else ""
    return fail(AIR, f"AIR answered {result.status}{code}: cannot tell")


async def probe_air(settings: Settings) -> Row:
    if not settings.air_enabled:
        return skip(AIR, "AIR not configured (AIRMP_AIR_CLIENT_ID unset): rewards off")
    async with AirClient.from_settings(settings) as client:
        try:
            return air_row(await client.wallet_transaction(AIR_WALLET, AIR_TRANSACTION))
        except AirCredentialsRejected as exc:
            return air_row(exc)

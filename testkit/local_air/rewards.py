"""SBA triggers the local AIR knows: reference -> points N or an ECOUPON campaign."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)

# --- triggers ---------------------------------------------------------------------------------


class RewardKind(StrEnum):
    POINTS = "points"
    ECOUPON = "ecoupon"


@dataclass(frozen=True, slots=True)
class Reward:
    """What an SBA trigger gives: `points` points, or an ECOUPON account of `campaign_id`.
    `action_campaign_id` is the SBA's own campaign (its BEHAVIOURAL_ACTION account)."""

    kind: RewardKind
    action_campaign_id: str
    points: int = 0
    campaign_id: str | None = None

    @property
    def spec(self) -> str:
        what = str(self.points) if self.kind is RewardKind.POINTS else self.campaign_id
        return f"{self.kind}:{what}@{self.action_campaign_id}"


def parse_reward(reference: str, spec: str) -> Reward:
    """`points:5000` or `ecoupon:100641679`, optionally `@<SBA campaignId>` (else one
    derived from the reference, stable across runs)."""
    body, _, action = spec.strip().partition("@")
    kind, _, value = body.partition(":")
    action = action.strip() or str(100_900_000 + zlib.crc32(reference.encode()) % 1_000_000)
    try:
        reward_kind = RewardKind(kind.strip().lower())
    except ValueError:
        raise ValueError(
            f"trigger {reference}: {spec!r} is not points:N or ecoupon:CAMPAIGN_ID"
        ) from None
    value = value.strip()
    if reward_kind is RewardKind.POINTS:
        if not value.isdigit() or int(value) <= 0:
            raise ValueError(f"trigger {reference}: points must be a positive whole number")
        return Reward(reward_kind, action, points=int(value))
    if not value:
        raise ValueError(f"trigger {reference}: ecoupon needs a campaign id")
    return Reward(reward_kind, action, campaign_id=value)


def parse_trigger(spec: str) -> tuple[str, Reward]:
    """`WELCOME5000=points:5000` -> ("WELCOME5000", Reward)."""
    reference, sep, reward = spec.partition("=")
    reference = reference.strip()
    if not sep or not reference:
        raise ValueError(f"{spec!r} is not REFERENCE=points:N or REFERENCE=ecoupon:CAMPAIGN_ID")
    return reference, parse_reward(reference, reward)


def triggers_from(triggers: Mapping[str, str | Reward] | Iterable[str]) -> dict[str, Reward]:
    """A mapping reference -> spec or Reward, or specs `REF=points:N`."""
    if isinstance(triggers, Mapping):
        return {
            str(ref): value if isinstance(value, Reward) else parse_reward(str(ref), str(value))
            for ref, value in triggers.items()
        }
    return dict(parse_trigger(spec) for spec in triggers)


def load_triggers(path: str | Path) -> dict[str, Reward]:
    """A JSON object {"REFERENCE": "points:5000", "OTHER": "ecoupon:100641679@100641681"}."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{path}: triggers must be a JSON object of reference -> spec")
    return triggers_from(data)


# --- wallets ----------------------------------------------------------------------------------

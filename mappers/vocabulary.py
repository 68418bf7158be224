"""mParticle's vocabulary, in one place: the words and limits of its S2S Events API.

Identity keys, event and custom event types, product actions, batch fields, attribute and
request limits, and the API's paths. The settings, the mapper (models.py, batch.py), the
sink and the local endpoint's rules (testkit/mparticle_rules.py) all read them from here.
It imports nothing of ours, so anything may import it.

Sources: mParticle's published Events API JSON schema (tests/oracle.py, patched for the
gaps its README lists), and mParticle's own Python SDK (PyPI `mparticle` 0.16.1), whose
spellings the API accepts too (`SDK_IDENTITY_SPELLINGS`).
"""

from __future__ import annotations

from typing import Literal, get_args

# --- identities -------------------------------------------------------------------------

# `user_identities` keys as the Events API documents them; what this connector sends.
IDENTITY_KEYS: tuple[str, ...] = (
    "customer_id",
    "email",
    "other",
    *(f"other_id_{n}" for n in range(2, 11)),
    "mobile_number",
    "phone_number_2",
    "phone_number_3",
    "facebook",
    "facebook_custom_audience_id",
    "google",
    "twitter",
    "microsoft",
    "yahoo",
    "alias",
)
# Keys mParticle's own SDK spells differently (mparticle 0.16.1, UserIdentities'
# attribute_map); every other key it sends is spelled as above (tests/sinks/
# test_sdk_client.py reads them from the SDK). SDK spelling -> Events API spelling.
SDK_IDENTITY_SPELLINGS: dict[str, str] = {"customerid": "customer_id"}
# What mParticle accepts in `user_identities`.
ACCEPTED_IDENTITY_KEYS: frozenset[str] = frozenset(IDENTITY_KEYS) | frozenset(
    SDK_IDENTITY_SPELLINGS
)

_COMPACT_IDENTITY_KEYS = {key.replace("_", ""): key for key in IDENTITY_KEYS}

# Audience outputs (the Firehose protocol) name identities their own way:
# Events API key -> Firehose `user_identities[].type`. Keys without a Firehose name
# (facebook_custom_audience_id, alias) cannot carry the AIR identity to an audience output.
FIREHOSE_IDENTITY_TYPES: dict[str, str] = {
    "customer_id": "customer",
    "email": "email",
    "other": "other",
    **{f"other_id_{n}": f"other{n}" for n in range(2, 11)},
    "mobile_number": "mobile_number",
    "phone_number_2": "phone_number_2",
    "phone_number_3": "phone_number_3",
    "facebook": "facebook",
    "google": "google",
    "twitter": "twitter",
    "microsoft": "microsoft",
    "yahoo": "yahoo",
}


def normalise_identity_key(value: str) -> str:
    """`customerid` (the SDK's spelling), `Customer_ID`, `otherid2` -> the Events API key."""
    compact = value.strip().lower().replace("_", "").replace("-", "")
    try:
        return _COMPACT_IDENTITY_KEYS[compact]
    except KeyError:
        raise ValueError(
            "must be an mParticle identity type: " + ", ".join(IDENTITY_KEYS)
        ) from None


# --- batches and events -----------------------------------------------------------------

EnvironmentName = Literal["production", "development"]
ENVIRONMENTS: tuple[str, ...] = get_args(EnvironmentName)

# Top-level batch fields: the schema's, plus the two its README says the API also accepts.
BATCH_FIELDS: frozenset[str] = frozenset(
    {
        "source_request_id",
        "events",
        "device_info",
        "application_info",
        "user_attributes",
        "deleted_user_attributes",
        "user_identities",
        "environment",
        "api_key",
        "api_keys",
        "ip",
        "integration_attributes",
        "context",
        "partner_identity",
        "source_info",
        "mp_deviceid",
        "attribution_info",
        "timestamp_unixtime_ms",
        "batch_id",
        "mpid",
        "origin_mpid",
        "sdk_version",
        "consent_state",
        "job_id",
        "schema_version",
        "partner_identities",
    }
)
# The `event_type` of each event the schema's `events` items accept.
EVENT_TYPES: tuple[str, ...] = (
    "session_start",
    "session_end",
    "screen_view",
    "custom_event",
    "crash_report",
    "opt_out",
    "first_run",
    "push_registration",
    "application_state_transition",
    "push_message",
    "network_performance",
    "breadcrumb",
    "profile",
    "commerce_event",
    "user_attribute_change",
    "user_identity_change",
    "uninstall",
)
CustomEventType = Literal[
    "navigation", "location", "search", "transaction", "user_content",
    "user_preference", "social", "other", "media", "attribution",
]  # fmt: skip
CUSTOM_EVENT_TYPES: tuple[str, ...] = get_args(CustomEventType)
# A commerce event's `custom_event_type`: the custom types and the commerce ones.
COMMERCE_EVENT_TYPES: tuple[str, ...] = (
    *CUSTOM_EVENT_TYPES,
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "checkout_option",
    "click",
    "view_detail",
    "purchase",
    "refund",
    "promotion_view",
    "promotion_click",
    "add_to_wishlist",
    "remove_from_wishlist",
    "impression",
    "consent_granted",
    "consent_denied",
)
# `product_action.action`; mParticle spells the last one `remove_from_wish_list` here, but
# `remove_from_wishlist` as a commerce event type.
ProductActionType = Literal[
    "add_to_cart", "remove_from_cart", "checkout", "checkout_option", "click",
    "view_detail", "purchase", "refund", "add_to_wishlist", "remove_from_wish_list",
]  # fmt: skip
PRODUCT_ACTIONS: tuple[str, ...] = get_args(ProductActionType)
PRODUCT_ACTION_FIELDS: frozenset[str] = frozenset(
    {
        "action",
        "checkout_step",
        "checkout_options",
        "product_action_list",
        "product_list_source",
        "transaction_id",
        "affiliation",
        "total_amount",
        "tax_amount",
        "shipping_amount",
        "coupon_code",
        "products",
    }
)

# --- limits -----------------------------------------------------------------------------

# Attributes (user and event): longer names and values are truncated by the mapper.
MAX_NAME = 256
MAX_VALUE = 4096
MAX_USER_ATTRIBUTES = 100

# What the Events API enforces per request; the sink packs under these with its own
# margins (sinks.options.RequestLimits), the local endpoint refuses beyond them.
API_MAX_BATCHES_PER_REQUEST = 100
API_MAX_REQUEST_BYTES = 256 * 1024
API_MAX_BATCH_BYTES = 128 * 1024
# mParticle's default S2S rate limit, in batches per second.
API_DEFAULT_RATE_LIMIT = 270.0

# --- paths ------------------------------------------------------------------------------

BULK_PATH = "/v2/bulkevents"  # a JSON array of up to 100 batches
SINGLE_PATH = "/v2/events"  # one batch

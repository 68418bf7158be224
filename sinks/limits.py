"""mParticle S2S Events API limits, and the packer's conservative targets under them.

mParticle documents 256 KB per request and 128 KB per batch without saying whether a KB
is 1000 or 1024 bytes; the packer aims at the smaller reading, measured on the exact
bytes it sends (orjson), so no request it builds can be refused for its size.
"""

from __future__ import annotations

# What the API enforces (the local endpoint rejects beyond these).
API_MAX_BATCHES_PER_REQUEST = 100
API_MAX_REQUEST_BYTES = 256 * 1024
API_MAX_BATCH_BYTES = 128 * 1024

# What the packer aims at.
MAX_BATCHES_PER_REQUEST = API_MAX_BATCHES_PER_REQUEST
MAX_REQUEST_BYTES = 256_000
MAX_BATCH_BYTES = 128_000

# mParticle's default S2S rate limit, in batches per second.
DEFAULT_RATE_LIMIT = 270.0

BULK_PATH = "/v2/bulkevents"
SINGLE_PATH = "/v2/events"

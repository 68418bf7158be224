"""`airmp dead-letters summary | show | redrive`: the dead-letter topic, read by an operator.

Every dead letter is the original message, bytes untouched, with headers saying why and
where from (`streams.dead_letters`): the kind (`airmp-kind`; older dead letters have only
`airmp-reason`, which starts with it), the readable reason, detail, the stage that gave up on
it (ingest, wallet, sink, reward) and its source (`streams.source`).

- `summary` counts them by reason x stage x eventName, with the first and last time;
- `show` prints each one: reason, detail, source and its body, pretty-printed;
- `redrive` produces the selected ones again where their stage reads: the AIR input topic
  for ingest and wallet (the by-wallet topic is the ingest agent's re-keyed copy of it),
  the records topic for sink, the reward topic for reward; with `airmp-redriven-from`.

Into the AIR input topic a dead letter goes with its source headers, which the ingest agent
keeps: the mapper sees the delivery it dead-lettered again (a re-run, `mappers.process`), so
it maps it although its eesEventId was remembered then, and its record has the same
source_request_id (from the eesEventId), which mParticle drops if it had arrived. A record
re-driven to the records topic is its original bytes: the same source_request_id again.
A reward request keeps its reference, AIR's idempotency key. Re-driving twice is safe.

Like `airmp replay`, it joins no consumer group and commits nothing, and reads a range fixed
at its start (so it never reads what it re-drives, nor a dead letter of it).

Two modules, pure to I/O: `letters` (a dead letter's fields, the selection, the summary,
the rendering, where and how one is re-driven) and `run` (reading, producing, progress,
exit status).
"""

"""`airmp replay`: re-process a range of the AIR input topic through mapping and delivery.

It never joins a consumer group: it assigns the input topic's partitions itself, finds the
start offsets (`--from-timestamp`, with Kafka's offsets-for-times, or `--from-offset`), and
stops each partition at the end offset it had when the replay started (or at
`--to-timestamp`). It commits nothing, so it cannot take partitions from, or move the
offsets of, a running worker.

Wallet state is seeded from the wallet-state table's changelog topic
(`<AIRMP_APP_ID>-wallet-state-changelog`), read to its end: the newest state the live worker
has. Each replayed event is mapped with it (`dedup=False`: the state has seen every event
already) and the result is kept for the wallet's next events. The event-date guards keep
newer state, so every replayed record carries the wallet's newest profile: an older event
never rolls a newer profile back, and a wallet that was deleted stays deleted (its replayed
records carry no `user_attributes`). `source_request_id` comes from `eesEventId`, so a
re-sent batch has the same id as the first time and mParticle drops it if it had arrived.

A second delivery of an event that the live worker dropped as AIR's duplicate (the state
remembers which delivery it mapped) is skipped again. Bad inputs are only counted: the live
run already put them on the dead-letter topic.

Records go to the records topic (keyed by walletId, like the worker's), where the running
worker's sink delivers them; with `--dry-run FILE` they are written to FILE as JSON lines
instead and nothing is produced.

Three modules, pure to I/O:
- `range`: the options parsed (times, offsets) and, from the offsets Kafka reports, where
  each partition's replay starts and stops;
- `replayer`: seeded wallet state + input messages -> records to re-send, and the counts;
- `run`: the I/O: reading the changelog and the range (with `ops.topic_reader`, shared with
  `airmp dead-letters`), writing to the records topic or the dry-run file, progress on
  stderr, and the command's exit status.
"""

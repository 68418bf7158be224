"""`python -m chaos [--quick | --profile P] [--rounds N] [--seed N] [--no-faults] [--reject N]
[--air-regrants] [--keep]` (`make chaos`).

Each round prints `chaos: seed N` first and its verdict line last; with several rounds a
totals line (the same format, every count summed) comes last. Exit 1 when any round lost
something, dead-lettered something unexpected, delivered a duplicate mParticle cannot drop
(another source_request_id), or left a reward ungranted or granted it twice; progress goes
to stderr.
"""

from __future__ import annotations

import argparse
import random
import sys

from chaos.run import DEFAULT, PROFILES, QUICK, Outcome, Round, terminate_as_interrupt
from chaos.verdict import totals_line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="~3,000 events, at most 2 minutes")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=None,
        help="default: faults mixed in; quick: the same, ~3,000 events; rolling: no faults, "
        "a rolling restart and scaling 3 -> 1 -> 3 -> 1; restarts: two workers restarted "
        "gracefully six times in a minute. In the last two a duplicate fails the round",
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each with a new seed")
    parser.add_argument("--seed", type=int, default=None, help="replay (round k: seed + k - 1)")
    parser.add_argument(
        "--no-faults", action="store_true", help="sanity check: the same load, no faults"
    )
    parser.add_argument(
        "--reject",
        type=int,
        default=0,
        metavar="N",
        help="self-test: the endpoint refuses N expected batches, so the round must fail",
    )
    parser.add_argument(
        "--air-regrants",
        action="store_true",
        help="self-test: the local AIR rewards a repeated reference again, so a re-send "
        "after a lost answer is a second grant and the round must fail",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep each round's work dir (logs) even when it passes"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    profile = PROFILES[args.profile] if args.profile else QUICK if args.quick else DEFAULT
    outcomes: list[Outcome] = []
    with terminate_as_interrupt():
        try:
            for k in range(args.rounds):
                round_ = Round(
                    seed + k,
                    profile,
                    not args.no_faults,
                    sys.stdout,
                    args.reject,
                    args.air_regrants,
                    args.keep,
                )
                outcomes.append(round_.run())
        except KeyboardInterrupt:
            print("chaos: interrupted; every process stopped", file=sys.stderr)
            return 130
    failed = [o for o in outcomes if not o.ok]
    if args.rounds > 1:
        _totals(outcomes, failed)
    return 1 if failed else 0


def _totals(outcomes: list[Outcome], failed: list[Outcome]) -> None:
    """After several rounds: which failed, and every count summed."""
    verdicts = [o.verdict for o in outcomes if o.verdict is not None]
    seeds = ", ".join(str(o.seed) for o in failed) or "none"
    print(f"  {len(outcomes)} rounds, failed: {seeds}")
    if len(verdicts) < len(outcomes):
        print(f"  {len(outcomes) - len(verdicts)} rounds had no verdict (harness failure)")
    print(totals_line(verdicts), flush=True)


if __name__ == "__main__":
    sys.exit(main())

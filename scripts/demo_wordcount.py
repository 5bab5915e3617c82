"""Word count: words routed to workers by HRW, one killed mid-run; its words move, the counts stay exact.

The manager's feeder asks, for every word of every text, the worker that rendezvous hashing picks for that
word; the workers count and tell the manager's tally. Halfway through, worker-2 is killed with SIGKILL.
Its requests time out or come back undeliverable, the feeder asks again, and rendezvous hashing now picks
another worker for exactly the words worker-2 had: every other word stays where it was. The demo checks
both claims against a count made here, in this process.
"""

from __future__ import annotations

import random
import signal
import sys
import time
from collections import Counter

from demolib import ROOT, arguments, running, say

_WORDS = (
    "the of and to in is that it was for on are as with his they at be this from have or by one had not "
    "but what all were when we there can an your which their said if do will each about how up out them "
    "then she many some so these would other into has more her two like him see time could no make than"
)
VOCABULARY = tuple(_WORDS.split())


def texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(VOCABULARY) for _ in range(12)) for _ in range(count)]


def owners(client, workers: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """word -> the worker whose counter has counted it."""
    return {word: worker for worker in workers for word in client.request(worker, "counter", {"words": True})}


def wait_until_done(client, expected: int, deadline: float) -> dict:  # type: ignore[no-untyped-def,type-arg]
    while True:
        tally = client.request("manager", "tally", {"get": True})
        feeder = client.request("manager", "feeder", {"status": True})
        if tally["total"] >= expected and feeder["pending"] == 0:
            return {**tally, **feeder}
        if time.monotonic() > deadline:
            raise RuntimeError(f"not done in time: {tally['total']}/{expected} counted, {feeder}")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__.splitlines()[0], argv)
    corpus = texts(300)
    expected = Counter(word for text in corpus for word in text.split())
    half = len(corpus) // 2
    with running(ROOT / "layouts" / "wordcount.yaml", args) as (cluster, client):
        workers = [spec.name for spec in cluster.layout.roles("worker")]
        say(f'\n$ clusterctl send manager feeder \'{{"id": N, "text": ...}}\'   x {half}')
        for n, text in enumerate(corpus[:half]):
            client.send("manager", "feeder", {"id": n, "text": text})
        first = wait_until_done(
            client, sum(Counter(w for t in corpus[:half] for w in t.split()).values()), time.monotonic() + 30
        )
        before = owners(client, workers)
        say(
            f"  {first['total']} words counted; words per worker: "
            + ", ".join(f"{w} {sum(1 for o in before.values() if o == w)}" for w in workers)
        )

        victim = "worker-2"
        say(f"\n$ clusterctl kill {victim}        # SIGKILL, while the second half is being fed")
        for n, text in enumerate(corpus[half:], start=half):
            client.send("manager", "feeder", {"id": n, "text": text})
            if n == half + 20:
                cluster.signal(victim, signal.SIGKILL)
        done = wait_until_done(client, sum(expected.values()), time.monotonic() + 60)
        say(
            f"  all {done['total']} words counted; the feeder asked again {done['retries']} times; "
            f"the tally dropped {done['duplicates']} second reports"
        )

        survivors = [w for w in workers if w != victim]
        after = owners(client, survivors)
        moved = {word for word, owner in before.items() if owner == victim}
        stayed = {word for word, owner in before.items() if owner != victim}
        exact = done["counts"] == dict(expected)
        kept = all(after.get(word) == before[word] for word in stayed)
        rehomed = all(word in after and after[word] != victim for word in moved)
        say(f"\n  counts exact (compared with a count made here): {exact}")
        say(f"  {len(stayed)} words stayed on their worker: {kept}")
        say(f"  the {len(moved)} words of {victim} moved to the others: {rehomed}")
        return 0 if exact and kept and rehomed else 1


if __name__ == "__main__":
    sys.exit(main())

"""The load-balancer fleet's actor: a `Prober` on every worker, deciding with the others where traffic goes.

The gossip seed came from an eBPF load balancer whose nodes had to agree, without a central controller,
on which backends to send traffic to. Each worker here plays one such node. It probes every backend
itself, and the built-in state providers turn the fleet's separate observations into one answer:

- `health`: each worker writes its own latest observation of a backend; the cluster view calls the
  backend unhealthy once a quorum of live nodes sees it so, so one worker with a bad path cannot
  condemn a backend alone.
- `circuit_breaker`: a worker that sees a backend fail `failures_to_open` times in a row opens that
  backend's circuit; the news reaches every node by gossip, so the whole fleet stops sending to it at
  once, even the workers whose own probes have not failed yet.
- `drain`: an operator (here the demo, through the manager) asks for a backend to be taken out of
  rotation. Each node's drain provider reports on its own when it sees the intent; what the Prober owes
  is to stop routing to the backend from the moment its drain view shows the intent.

The addresses of the backends are not in the layout (the demo starts them on ports chosen at run time):
they come from the `kv` key named by `backends_key`, a map {backend name: "host:port"}, read afresh on
every round so that a backend added or removed there is probed or forgotten on the next one.

Ask a Prober `{"routes": true}` for its routing table, or `{"pick": KEY}` for the backend it would send
KEY (a client, a flow) to: rendezvous hashing over the backends in rotation, so every worker picks the
same backend for the same key without talking, and a backend that leaves moves only its own keys.
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from typing import Any

from actors import ClusterActor, Sender
from cluster.app.pools import hrw_pick

__all__ = ["Prober", "probe"]

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"


def probe(address: str, timeout: float) -> bool:
    """Whether the backend at `address` ("host:port") answers `GET /health` with 200 within `timeout`.

    A TCP connect alone would call a backend that accepts but cannot serve healthy; a full GET is still
    cheap. It blocks the Prober's own thread for at most about twice `timeout` (connect, then read): on
    loopback a backend that is down refuses at once, and the Prober's hooks run on its own thread, so
    nothing else on the node waits for it.
    """
    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        connection.close()


class Prober(ClusterActor):
    """Probes every backend each round and keeps the fleet's shared state true to what it sees.

    It writes only on change: an observation when it flips, a circuit once per run of failures. Writing
    every round would spread the same news over and over and make every node raise `state_changed` for
    nothing; gossip is for news.
    """

    def on_start(self) -> None:
        self.interval = float(self.args.get("interval", 0.1))
        self.timeout = float(self.args.get("timeout", 0.2))
        self.failures_to_open = int(self.args.get("failures_to_open", 3))
        self.successes_to_close = int(self.args.get("successes_to_close", 3))
        self.backends_key = str(self.args.get("backends_key", "backends"))
        # Asked for now, not on the first round: a view is empty until its provider first answers.
        self.kv = self.context.state("kv")
        self.health = self.context.state("health")
        self.breakers = self.context.state("circuit_breaker")
        self.drains = self.context.state("drain")
        self.observed: dict[str, str] = {}  # backend -> the observation this node last wrote
        self.failures: dict[str, int] = {}  # backend -> failed probes in a row
        self.successes: dict[str, int] = {}  # backend -> good probes in a row
        self.asked: dict[str, str] = {}  # backend -> the circuit phase asked for in the current run
        self.context.start_timer("probe", self.interval, repeat=True)

    def on_timer(self, name: str) -> None:
        if name != "probe":
            return
        backends = self._backends()
        for backend, address in sorted(backends.items()):
            self._observe(backend, probe(address, self.timeout))
        for gone in [backend for backend in self.observed if backend not in backends]:
            self.health.delete(gone)  # no longer ours to watch: our observation must not linger
            for per_backend in (self.observed, self.failures, self.successes, self.asked):
                per_backend.pop(gone, None)

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if not isinstance(message, dict):
            return
        if message.get("routes"):
            self.context.reply(sender, self._routes())
        elif "pick" in message:
            in_rotation = self._routes()["in_rotation"]
            self.context.reply(sender, hrw_pick(str(message["pick"]), in_rotation))

    # -- what one probe changes ---------------------------------------------------------------------

    def _observe(self, backend: str, ok: bool) -> None:
        status = HEALTHY if ok else UNHEALTHY
        if self.observed.get(backend) != status:
            self.health.set(backend, status)
            self.observed[backend] = status
        # A run of one kind ends the other's: what we asked for during it no longer holds us back.
        if ok:
            self.failures[backend] = 0
            self.successes[backend] = self.successes.get(backend, 0) + 1
            if self.asked.get(backend) == "open":
                del self.asked[backend]
            self._maybe_close(backend)
        else:
            self.successes[backend] = 0
            self.failures[backend] = self.failures.get(backend, 0) + 1
            if self.asked.get(backend) == "closed":
                del self.asked[backend]
            self._maybe_open(backend)

    def _maybe_open(self, backend: str) -> None:
        """Open after enough failures in a row, unless the circuit already shows open or we asked already.

        Asking once per run matters: our own write reaches our view a moment later, and asking again in
        between would only repeat it. Two workers opening at the same moment is harmless: the provider
        puts both in the same episode.
        """
        if self.failures[backend] < self.failures_to_open or self.asked.get(backend) == "open":
            return
        if self._phase(backend) != "open":
            self.breakers.set(backend, "open")
        self.asked[backend] = "open"

    def _maybe_close(self, backend: str) -> None:
        """Close an open circuit after enough good probes in a row, once the fleet agrees it is healthy.

        The probes are the trial traffic a half-open circuit would let through, so the circuit goes from
        open straight to closed (the provider allows any forward move within an episode). Waiting for the
        fleet's health view keeps one worker that sees the backend fine from closing a circuit the others
        opened for a reason.
        """
        if self.successes[backend] < self.successes_to_close or self.asked.get(backend) == "closed":
            return
        if self._phase(backend) != "closed" and self._status(backend) == HEALTHY:
            self.breakers.set(backend, "closed")
            self.asked[backend] = "closed"

    # -- what the fleet agreed ----------------------------------------------------------------------

    def _backends(self) -> dict[str, str]:
        listed = self.kv.get(self.backends_key)
        if not isinstance(listed, Mapping):
            return {}
        return {str(name): str(address) for name, address in listed.items()}

    def _phase(self, backend: str) -> str:
        """The circuit's phase in the cluster view; a circuit never opened is closed."""
        circuit = self.breakers.get(backend)
        return str(circuit["phase"]) if isinstance(circuit, Mapping) else "closed"

    def _status(self, backend: str) -> str | None:
        """The fleet's health verdict on `backend` (None until some node has observed it)."""
        verdict = self.health.get(backend)
        return str(verdict["status"]) if isinstance(verdict, Mapping) else None

    def _routes(self) -> dict[str, Any]:
        """Which backends this node sends traffic to, and why each other one is out.

        Routing follows the cluster's views, not this node's own last probe: that is what makes the
        fleet act as one.
        """
        in_rotation: list[str] = []
        out: dict[str, str] = {}
        for backend in sorted(self._backends()):
            drain = self.drains.get(backend)
            if isinstance(drain, Mapping) and drain.get("intent") == "drain":
                out[backend] = "drained" if drain.get("drained") else "draining"
            elif self._phase(backend) == "open":
                out[backend] = "circuit open"
            elif self._status(backend) != HEALTHY:
                out[backend] = "unhealthy" if self._status(backend) else "not probed yet"
            else:
                in_rotation.append(backend)
        return {"node": self.context.node, "in_rotation": in_rotation, "out": out}

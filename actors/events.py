"""The node's event log: every cluster event as one JSON line, and told to subscribers.

One JSON object per line (`ts`, `node`, `event`, then the event's fields) is what `clusterctl events`
merges across nodes. The file is flushed as soon as the actor has no more events waiting, so a burst
(thousands of `state_changed` a second under load) costs one flush, and a node killed with SIGKILL has
still written everything it raised before its last idle moment.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import IO, Any

import pykka

from actors.base import CrashHandler, NodeActor, handles, inbox_empty, tell_if_alive
from actors.messages import EventRaised, RaiseEvent, RaiseEvents, SubscribeEvents
from cluster.core.events import Event, StateChangedEvent, event_record

log = logging.getLogger(__name__)

_JSON = json.JSONEncoder(default=str)
"""One encoder for every line: `json.dumps` with an argument builds a new one per call, which was a
tenth of the event log's time at one `state_changed` per write and replica."""


class EventLog(NodeActor):
    def __init__(
        self,
        node: str,
        path: Path | None,
        *,
        subscribers: tuple[pykka.ActorRef[Any], ...] = (),
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(on_crash=on_crash)
        self._node = node
        self._path = path
        self._file: IO[str] | None = None
        # Given at construction, not by a later SubscribeEvents: the node's other actors start before it
        # is wired, and membership reads datagrams from its first moment, so a peer's greeting can raise
        # `member_joined` before any subscription made afterwards would have arrived.
        self._subscribers: list[pykka.ActorRef[Any]] = list(subscribers)

    def on_start(self) -> None:
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("a", encoding="utf-8")

    def on_stop(self) -> None:
        if self._file is not None:
            self._file.close()

    @handles(SubscribeEvents)
    def _subscribe(self, message: SubscribeEvents) -> None:
        self._subscribers.append(message.subscriber)

    def on_receive(self, message: Any) -> Any:
        """Whatever came in (a barrier too), the file is flushed once nothing else waits."""
        try:
            return super().on_receive(message)
        finally:
            if self._file is not None and inbox_empty(self.actor_inbox):
                self._file.flush()

    @handles(RaiseEvent)
    def _raise(self, message: RaiseEvent) -> None:
        self._record(message.event)
        self._log((message.event,))

    @handles(RaiseEvents)
    def _raise_many(self, message: RaiseEvents) -> None:
        for event in message.events:
            self._record(event)
        self._log(message.events)

    def _record(self, event: Event) -> None:
        record = event_record(self._node, event, time.time())
        if self._file is not None:
            self._file.write(_JSON.encode(record) + "\n")
        if self._subscribers:
            raised = EventRaised(record)
            self._subscribers = [s for s in self._subscribers if tell_if_alive(s, raised)]

    def _log(self, events: tuple[Event, ...]) -> None:
        """The node log's account of events raised together: one line for the lot, since a log record
        costs some 50 us (a record, a format, a locked write and flush each) and a 101-node start raises a
        hundred `member_joined` on each node at once. The events file keeps one line per event."""
        # State changes come by the thousand under load; the node log keeps them only when debugging.
        shown: list[Event] = []
        changes: list[Event] = []
        for event in events:
            (changes if isinstance(event, StateChangedEvent) else shown).append(event)
        for level, some in ((logging.INFO, shown), (logging.DEBUG, changes)):
            if some and log.isEnabledFor(level):
                self._log_line(level, some)

    @staticmethod
    def _log_line(level: int, events: list[Event]) -> None:
        if len(events) == 1:
            log.log(level, "event %s %s", events[0].NAME, _JSON.encode(events[0].fields))
            return
        told = "; ".join(f"{e.NAME} {_JSON.encode(e.fields)}" for e in events)
        log.log(level, "%d events: %s", len(events), told)

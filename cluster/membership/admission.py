"""Which membership news is believed at all: the check every alive, join, suspicion, death and leave passes
before it may change the member table.

SWIM trusts whatever it hears, and so does memberlist: an `alive` at a higher incarnation moves a member
to whatever address it names, a name never heard of becomes a member, and a suspicion of this node at an
incarnation near 2⁶³ is refuted at 2⁶³, which no longer encodes. A member with a bug, or anyone who can
reach the port, then takes the cluster apart with one datagram (issue 11 §0 reproduced each of these on a
six-node cluster). A key keeps strangers out, not a member that is wrong, so these rules hold whatever
the keys:

- A node of the layout is at the address the layout gives it; news of it at another address is refused,
  so a member's address never moves to whoever sends its name. (A name outside the layout is refused
  unless the core was made to admit anyone, as unit tests and the simulator's ad hoc joiners are.)
- An incarnation only grows by refutations, one at a time: news more than `MAX_INCARNATION_STEP` above
  what we hold of that life (or above 0, for a life we do not hold) is implausible and refused, and none
  above `INCARNATION_CEILING` is ever taken, so a refutation can never pass the wire's range.

Each refusal is counted by reason (`MembershipStats.refused`), never raised.
"""

from __future__ import annotations

from collections.abc import Mapping

from cluster.core.effects import Address
from cluster.membership.members import MemberTable
from cluster.wire.messages import Alive, Dead, Join, Leave, NodeInfo, Suspect, WireMessage

MAX_INCARNATION_STEP = 1 << 16
"""How far news may put a member's incarnation above what we hold of it. Each refutation adds one; a
member refutes once per suspicion of it, so 65,536 refutations while we were away is already beyond any
partition we could heal from. memberlist has no bound (its incarnation is a uint32 that wraps)."""

INCARNATION_CEILING = 1 << 62
"""No incarnation above this is ever taken, whatever we hold: our own refutation (one above the highest
accusation taken) then stays far inside the wire's range of 2⁶³ - 1."""

UNKNOWN_MEMBER = "unknown-member"
WRONG_ADDRESS = "wrong-address"
IMPLAUSIBLE_INCARNATION = "implausible-incarnation"


def refusal(message: WireMessage, table: MemberTable, admitted: Mapping[str, Address] | None) -> str | None:
    """Why `message` must not touch `table`, or None. `admitted`: each name that may be a member, at its
    address (None admits any name at any address)."""
    match message:
        case Alive(info) | Join(info):
            return info_refusal(info, table, admitted)
        case Suspect(member, incarnation, _) | Dead(member, incarnation, _) | Leave(member, incarnation):
            if admitted is not None and member not in admitted:
                return UNKNOWN_MEMBER
            return _incarnation_refusal(member, None, incarnation, table)
    return None


def info_refusal(info: NodeInfo, table: MemberTable, admitted: Mapping[str, Address] | None) -> str | None:
    """`refusal` for what a member says of itself (an alive, a join, a push-pull record)."""
    if admitted is not None:
        address = admitted.get(info.name)
        if address is None:
            return UNKNOWN_MEMBER
        if address.host != info.host or address.port != info.port:
            return WRONG_ADDRESS
    return _incarnation_refusal(info.name, info.node_id, info.incarnation, table)


def _incarnation_refusal(name: str, node_id: str | None, incarnation: int, table: MemberTable) -> str | None:
    if incarnation > INCARNATION_CEILING:
        return IMPLAUSIBLE_INCARNATION
    held = table.get(name)
    # News of another life of the name starts from 0; an accusation (no id) is of the life we hold.
    base = held.incarnation if held is not None and node_id in (None, held.info.node_id) else 0
    return IMPLAUSIBLE_INCARNATION if incarnation > base + MAX_INCARNATION_STEP else None

"""Zeek's readiness handshake: peering (hello), the connectivity tracker and the coordinator."""

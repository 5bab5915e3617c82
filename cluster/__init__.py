"""What a cluster is: pure, deterministic rules (layout, wire messages, readiness, peering), plus the
process layer that starts nodes and talks to them (launcher, control client, CLI). See DESIGN.md §2."""

"""Who runs a node: one pykka actor per subsystem, each a thin shell around a `cluster` core.

Entry points: `python -m actors.node` (one node), `actors.inprocess.InProcessCluster` (a whole layout in one
process), and `actors.testkit` (probes, `wait_idle`, free ports) for tests of your own.
"""

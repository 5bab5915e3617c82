"""Simulators: many cores in one thread, in virtual time, over a network that loses and partitions."""

"""What every core shares: the effects vocabulary, timers, the Lamport clock, backoff, virtual time."""

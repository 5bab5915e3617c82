"""SWIM membership with Lifeguard: the core, the member table, suspicion, awareness, formulas."""

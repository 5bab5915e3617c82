"""The control protocol: typed requests, replies and the status snapshot, and the endpoint's rules."""

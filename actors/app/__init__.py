"""Users' own actors on the cluster: the `ClusterActor` API, the host that runs and supervises one, the
node's app router, loading them from a layout's `app:` section, and the tools to test them."""

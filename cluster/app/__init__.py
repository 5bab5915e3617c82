"""Application messaging: the rules for users' messages between actors on the cluster's nodes.

`plain` says what a message may be and refuses anything else at the sender; `pools` picks a node of a role
as Zeek's `publish_hrw` and `publish_rr` do; `postoffice` is the pure core of a node's app router (local
or remote delivery, queues per peer, undeliverable mail, topics).
"""

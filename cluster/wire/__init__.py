"""The wire format: the schema engine, the messages nodes exchange, the codec and compound datagrams."""

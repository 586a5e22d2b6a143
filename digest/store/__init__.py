"""The state file: the connection, the numbered migrations, and one module per table group: the only SQL in digest."""

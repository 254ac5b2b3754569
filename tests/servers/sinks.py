"""sinks fixtures (being written)."""

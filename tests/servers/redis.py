"""redis fixtures (being written)."""

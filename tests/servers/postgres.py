"""postgres fixtures (being written)."""

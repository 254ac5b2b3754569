"""scenarios checks (placeholder: being written)."""

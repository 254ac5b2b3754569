"""repo checks (placeholder: being written)."""

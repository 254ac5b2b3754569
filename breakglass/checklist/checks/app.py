"""app checks (placeholder: being written)."""

"""headers checks (placeholder: being written)."""

"""ops checks (placeholder: being written)."""

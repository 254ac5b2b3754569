"""datastores checks (placeholder: being written)."""

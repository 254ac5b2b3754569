"""tls checks (placeholder: being written)."""

"""hosts checks (placeholder: being written)."""

"""sshd fixtures (being written)."""

"""Helpers for the rotation tests: SSH hosts built from the sshd fixtures, a tiny service."""

"""Helpers for backup tests: real pg_dump archives, age encryption, manifests, and stores
(file:// directories and moto S3 buckets) with the same small API."""

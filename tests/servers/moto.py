"""moto fixtures (being written)."""

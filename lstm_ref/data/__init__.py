"""Tasks the course trains on, generated from a seed (nothing is downloaded)."""

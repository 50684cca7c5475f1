"""Helpers for the course site (the Jupyter Book build), not part of the numerical API."""

"""Fleetwatch server: the Django project and the domain core."""

__version__ = "0.1.0"

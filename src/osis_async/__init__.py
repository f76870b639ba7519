"""Run long jobs for Django users and show their progress in a small Vue widget."""

__version__ = "1.0.0"

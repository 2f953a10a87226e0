"""CLI command groups. Each module imports only typer at import time."""

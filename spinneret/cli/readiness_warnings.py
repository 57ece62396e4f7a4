"""Warnings printed when a long-running process starts (and by `config show`): settings
that leave notices held or tell strangers to look at a placeholder (notices.readiness)."""

from __future__ import annotations

from spinneret.cli.common import err_console
from spinneret.notices.readiness import deployment_warnings


def warn_deployment(settings) -> list[str]:
    """Print each warning as one `warning:` line on stderr; returns them."""
    warnings = deployment_warnings(settings)
    for warning in warnings:
        err_console.print(f"warning: {warning}", markup=False)
    return warnings

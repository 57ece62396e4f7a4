"""`spinneret serve [--host] [--port]`: the web application (API, UI, owner pages)."""

from __future__ import annotations

import typer
from aiohttp import web

from spinneret.cli.readiness_warnings import warn_deployment
from spinneret.config import get_settings
from spinneret.runtime.context import AppContext


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        host: str | None = typer.Option(None, "--host", help="Default: settings api_host."),
        port: int | None = typer.Option(None, "--port", min=1, max=65535,
                                        help="Default: settings api_port."),
    ) -> None:
        """Serve the JSON API (/api/v1), the web UI, owner pages and /metrics."""
        from spinneret.api.app import create_app

        settings = get_settings()
        warn_deployment(settings)
        context = AppContext(settings)
        web.run_app(create_app(context), host=host or settings.api_host,
                    port=port or settings.api_port, print=None)

"""`spinneret redis status|stop`: the embedded Redis server."""

from __future__ import annotations

import typer

from config import get_settings, mask_url_password
from spinneret.cli.common import console
from spinneret.embedded_redis import EmbeddedRedis


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The embedded Redis server (used when SPINNERET_REDIS_URL is unset).")

    @group.command("status")
    def status() -> None:
        """Show whether the embedded server runs, where, and how much it holds."""
        settings = get_settings()
        if settings.redis_url:
            console.print(f"using external Redis from SPINNERET_REDIS_URL: "
                          f"{mask_url_password(settings.redis_url)}")
            return
        state = EmbeddedRedis(settings.data_dir).status()
        if not state.running:
            console.print(f"embedded redis: stopped (data in {state.directory})")
            raise typer.Exit(3)
        console.print(
            f"embedded redis: running pid={state.pid} url={state.url} version={state.version} "
            f"keys={state.keys} memory={state.used_memory_human} data={state.directory}"
        )

    @group.command("start")
    def start() -> None:
        """Start the embedded server (commands start it on demand anyway)."""
        url = EmbeddedRedis(get_settings().data_dir).ensure_running()
        console.print(f"embedded redis: running at {url}")

    @group.command("stop")
    def stop() -> None:
        """Save and stop the embedded server."""
        stopped = EmbeddedRedis(get_settings().data_dir).stop()
        console.print("embedded redis: stopped" if stopped else "embedded redis: was not running")

    app.add_typer(group, name="redis")

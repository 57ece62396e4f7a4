"""`spinneret redis status|start|stop`: the embedded Redis servers (the persistent store
and the memory-only broker)."""

from __future__ import annotations

from pathlib import Path

import typer

from spinneret.cli.common import console
from spinneret.config import get_settings, mask_url_password
from spinneret.runtime.embedded_redis import EmbeddedRedis


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The embedded Redis servers (used when SPINNERET_REDIS_URL is unset).")

    @group.command("status")
    def status() -> None:
        """Show whether the embedded servers run, where, and how much they hold (exit code 3
        when the store is stopped)."""
        settings = get_settings()
        if settings.redis_url:
            console.print(f"using external Redis from SPINNERET_REDIS_URL: "
                          f"{mask_url_password(settings.redis_url)}")
            return
        running = {}
        for name, server in _servers(settings.data_dir):
            state = server.status()
            running[name] = state.running
            if not state.running:
                console.print(f"embedded {name}: stopped (dir {state.directory})")
                continue
            console.print(
                f"embedded {name}: running pid={state.pid} url={state.url} "
                f"version={state.version} keys={state.keys} memory={state.used_memory_human} "
                f"dir={state.directory}"
            )
        if not running[STORE]:
            raise typer.Exit(3)

    @group.command("start")
    def start() -> None:
        """Start the embedded servers (commands start them on demand anyway)."""
        for name, server in _servers(get_settings().data_dir):
            console.print(f"embedded {name}: running at {server.ensure_running()}")

    @group.command("stop")
    def stop() -> None:
        """Stop the embedded servers (the store saves first)."""
        for name, server in _servers(get_settings().data_dir):
            stopped = server.stop()
            console.print(f"embedded {name}: " + ("stopped" if stopped else "was not running"))

    app.add_typer(group, name="redis")


STORE = "redis"
BROKER = "broker redis (memory only)"


def _servers(data_dir: Path) -> list[tuple[str, EmbeddedRedis]]:
    return [(STORE, EmbeddedRedis(data_dir)), (BROKER, EmbeddedRedis.broker(data_dir))]

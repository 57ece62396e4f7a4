"""`spinneret worker` and `spinneret beat`: the Celery worker and scheduler of this project."""

from __future__ import annotations

import typer

from spinneret.cli.readiness_warnings import warn_deployment
from spinneret.runtime.context import AppContext


def child_memory_limit_kb(context: AppContext) -> int:
    """A child is replaced once it uses more than its own hash index (which grows with the
    lists, so twice today's estimate) plus `worker_max_memory_kb` for the work of a task."""
    from spinneret.matcher.matching import estimate_index_bytes

    counts: dict[str, int] = {}
    for info in context.store.lists():
        for algorithm, count in info.counts.items():
            counts[algorithm] = counts.get(algorithm, 0) + count
    return context.settings.worker_max_memory_kb + 2 * estimate_index_bytes(counts) // 1024


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        concurrency: int = typer.Option(
            0, "--concurrency", "-c", help="Worker processes (0 = setting, else CPU count)."
        ),
        pool: str = typer.Option("prefork", "--pool", help="prefork, threads or solo."),
        loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
        hostname: str = typer.Option("", "--hostname", "-n", help="Node name (default: Celery's)."),
    ) -> None:
        """Start a worker that hashes, matches and records queued images (and sends notices)."""
        from spinneret.runtime.celery_app import IMAGES_QUEUE, NOTICES_QUEUE, configure

        context = AppContext()
        warn_deployment(context.settings)
        _ = context.db  # migrate before children start, so they never race on it
        celery_app = configure(context.settings, context.redis_url)
        celery_app.conf.worker_max_memory_per_child = child_memory_limit_kb(context)
        argv = [
            "worker",
            f"--loglevel={loglevel}",
            f"--pool={pool}",
            f"--queues={IMAGES_QUEUE},{NOTICES_QUEUE}",
            "--without-gossip",
            "--without-mingle",
        ]
        processes = concurrency or context.settings.worker_concurrency
        if processes:
            argv.append(f"--concurrency={processes}")
        if hostname:
            argv.append(f"--hostname={hostname}")
        celery_app.worker_main(argv)

    @app.command("beat")
    def beat(loglevel: str = typer.Option("INFO", "--loglevel", "-l")) -> None:
        """Start the scheduler (notice delivery, rechecks, reminders)."""
        from spinneret.runtime.celery_app import configure

        context = AppContext()
        warn_deployment(context.settings)
        celery_app = configure(context.settings, context.redis_url)
        schedule_file = context.settings.data_dir / "celerybeat-schedule"
        context.settings.data_dir.mkdir(parents=True, exist_ok=True)
        celery_app.Beat(loglevel=loglevel, schedule=str(schedule_file)).run()

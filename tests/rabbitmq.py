"""RabbitMQ for tests (a pytest plugin, see conftest): 127.0.0.1:5672 guest/guest (or
SPINNERET_TEST_AMQP_URL), one vhost per test module when `rabbitmqctl` can make one (else
the default vhost). Tests using `amqp_url` are skipped, with the reason, when RabbitMQ does
not answer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from spinneret.runtime.celery_app import configure

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 5672), timeout=1):
            return True
    except OSError:
        return False


def _rabbitmqctl(*args: str) -> bool:
    if not shutil.which("rabbitmqctl"):
        return False
    try:
        return subprocess.run(["rabbitmqctl", *args], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    base = os.environ.get("SPINNERET_TEST_AMQP_URL", DEFAULT_AMQP)
    if not _answers(base):
        pytest.skip(f"RabbitMQ does not answer at {base}")
    vhost = f"spinneret-test-{uuid.uuid4().hex[:8]}"
    user = urlsplit(base).username or "guest"
    if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
            "set_permissions", "-p", vhost, user, ".*", ".*", ".*"):
        parts = urlsplit(base)
        yield f"{parts.scheme}://{parts.netloc}/{vhost}"
        _rabbitmqctl("delete_vhost", vhost)
    else:
        yield base


def back_to_the_redis_broker(context) -> None:
    """Configure the Celery app as the other tests expect it (this vhost is deleted)."""
    configure(context.settings.model_copy(update={"broker_url": None}), context.redis_url)

"""Every test of test_worker_pipeline.py again with RabbitMQ as the broker: the same tests,
fixtures and helpers (so tests added there run here too), only the settings name a RabbitMQ
vhost of this module, which the producer and the `spinneret worker` processes both use.
Skipped, with the reason, when RabbitMQ does not answer (tests/rabbitmq.py)."""

from __future__ import annotations

import pytest

import tests.test_worker_pipeline as _pipeline
from tests.rabbitmq import back_to_the_redis_broker

globals().update({name: value for name, value in vars(_pipeline).items()
                  if not name.startswith("__")})


@pytest.fixture
def settings(settings, amqp_url):  # the conftest fixture, with the vhost as broker
    return settings.model_copy(update={"broker_url": amqp_url})


@pytest.fixture(autouse=True)
def _redis_broker_afterwards(context):
    yield
    back_to_the_redis_broker(context)

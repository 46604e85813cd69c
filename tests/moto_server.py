"""moto's AWS server in this process, with an Airflow connection to it (tests of the S3/EC2/SSM/SQS boundaries)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

REGION = "us-east-1"


@contextmanager
def moto_server(conn_id: str, region: str = REGION) -> Iterator[str]:
    """Start moto's server on a free port; while it runs, the environment has fake credentials and the Airflow
    connection ``conn_id`` pointing at it. Yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    from mathlabel.services import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    connection = {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": region}}
    try:
        with pytest.MonkeyPatch.context() as env:
            for key, value in {
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_DEFAULT_REGION": region,
                f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection),
            }.items():
                env.setenv(key, value)
            yield endpoint
    finally:
        server.stop()

"""A local S3-compatible server (moto's server mode) and a bucket for each test."""

import runpy
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from annotator.settings import base

REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint():
    """The URL of an S3 server on a free local port, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def settings_from_environment() -> dict:
    """The settings module's values for the environment as it is now, without touching
    the settings of this process."""
    return runpy.run_path(base.__file__)


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch, tmp_path):
    """An empty bucket that the default storage uses, configured the way a deployment
    configures it (the environment variables of the README), with a client to look
    inside it. MEDIA_ROOT points at a fresh folder, to find what would be written there."""
    name = f"arbor-{uuid.uuid4().hex[:12]}"
    for variable, value in {
        "ARBOR_STORAGE": "s3",
        "ARBOR_S3_BUCKET": name,
        "ARBOR_S3_ENDPOINT_URL": s3_endpoint,
        "ARBOR_S3_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(variable, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    client.create_bucket(Bucket=name)
    settings.STORAGES = settings_from_environment()["STORAGES"]
    settings.MEDIA_ROOT = tmp_path / "media"
    return Bucket(client, name)


@dataclass(frozen=True)
class Bucket:
    client: object
    name: str

    def keys(self) -> set[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return {entry["Key"] for entry in listing.get("Contents", [])}

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


def on_local_disk(media_root: Path, names) -> list[str]:
    """The storage names that have a file under MEDIA_ROOT: none should, with a bucket.
    (The learning side keeps its own caches there, which are not checked here.)"""
    return [name for name in names if (media_root / name).exists()]

"""Tier 1: what pods are given to pull a private registry and to reach an object store: pure functions."""

from __future__ import annotations

import base64
import configparser
import json

from components.backends.existing.artifacts import object_store_env, shared_credentials_file
from components.backends.existing.settings import ObjectStore
from components.contracts.pull_secret import docker_config_json


def test_docker_config_json_is_what_kubelets_read():
    document = json.loads(docker_config_json("https://index.docker.io/v1/", "acme", "s3cr:et"))
    entry = document["auths"]["https://index.docker.io/v1/"]
    assert entry["username"] == "acme" and entry["password"] == "s3cr:et"
    # `auth` is base64("user:password"); kubelets use it when present.
    assert base64.b64decode(entry["auth"]).decode() == "acme:s3cr:et"


def test_shared_credentials_file_is_read_as_botocore_reads_it():
    parser = configparser.ConfigParser()
    parser.read_string(shared_credentials_file("ml-platform", "key/with+chars="))
    assert dict(parser["default"]) == {"aws_access_key_id": "ml-platform", "aws_secret_access_key": "key/with+chars="}


def test_object_store_env_names_only_what_is_set():
    bare = {e.name for e in object_store_env(ObjectStore(uri="s3://models", access_key_id="ml-platform"))}
    assert bare == {"AWS_SHARED_CREDENTIALS_FILE"}, "AWS S3 itself needs no endpoint or region override"
    store = ObjectStore(uri="s3://models", endpoint="http://minio:9000", region="eu-1", access_key_id="ml-platform")
    env = {e.name: e.value for e in object_store_env(store)}
    assert env["AWS_ENDPOINT_URL_S3"] == "http://minio:9000" and env["AWS_DEFAULT_REGION"] == "eu-1"

"""Shared pytest configuration: async tests run on anyio's asyncio backend."""

from __future__ import annotations

import os

import pytest

# aiohttp (under kubernetes_asyncio) honours proxy variables; loopback must never use one.
os.environ["NO_PROXY"] = "127.0.0.1,localhost," + os.environ.get("NO_PROXY", "")
os.environ["no_proxy"] = os.environ["NO_PROXY"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

"""Shared fixtures: a real sandbox server on loopback, plain-httpx callers for both protocols, and
a headless browser. Fixtures only: shared helpers live in ``tests/helpers`` (test modules import
those, never this module nor each other)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import settings

from livekit.sandbox.server import RunningSandbox, running_sandbox
from tests.helpers.browser import launched_browser
from tests.helpers.reports import REAL_REPORT_MODULES
from tests.helpers.sandbox import Doudian, Qianchuan, make_config


# make test runs pytest in parallel workers (pytest-xdist, whole files per worker). Each worker
# gets a home of its own: two sandboxes authorizing into one token file would take each other's
# tokens, and the report fixtures sync and render into their home's folders.
# A hook, not module code: child processes started by the tests must keep the LIVEKIT_HOME their
# test gave them.
def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and os.environ.get("LIVEKIT_HOME"):
        os.environ["LIVEKIT_HOME"] = f"{os.environ['LIVEKIT_HOME']}-{worker}"


# make test's workers take whole files (--dist loadfile), except that the files reading the
# rendered project reports go to one worker together: rendered_real_reports() renders every
# notebook once per process, so two workers would each execute every notebook. A scheduler of
# pytest-xdist's own kind (its documented hook), grouping one more way than by file.
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class RealReportsTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "real reports" if scope in REAL_REPORT_MODULES else scope

    return RealReportsTogether(config, log)


# Property tests (tests/test_properties.py) are reproducible: the same examples on every run, no
# example database. HYPOTHESIS_PROFILE=explore searches further (random, more examples).
settings.register_profile("livekit", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=2000, database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "livekit"))


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    """A frozen-clock sandbox served over real HTTP on 127.0.0.1 (one per test module)."""
    with running_sandbox(make_config()) as running:
        yield running


@pytest.fixture
def http(server: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def qc(http: httpx.Client, server: RunningSandbox) -> Qianchuan:
    return Qianchuan(http, server.sandbox.config)


@pytest.fixture
def dd(http: httpx.Client, server: RunningSandbox) -> Doudian:
    return Doudian(http, server.sandbox.config)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's) with no network of its own; skipped without it, except in CI."""
    with launched_browser() as launched:
        yield launched

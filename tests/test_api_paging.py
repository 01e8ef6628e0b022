"""Paging fields of an unexpected shape: read when nothing is lost, else one clear error.

``total_num`` / ``total_number`` / ``total_page`` (巨量千川) and ``total`` (抖店) decide how many
more pages a client asks for, so the API layer reads them itself (livekit.api.payload). The
client is tested against httpx's MockTransport playing one page answer: one layer, no sandbox.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from livekit.api.errors import UpstreamError
from livekit.api.http import RateControl
from livekit.api.payload import paging_number, tag
from livekit.api.qianchuan import QianchuanClient
from livekit.api.runner import run
from livekit.config import load_settings
from livekit.vocab.errors import LivekitError


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (3.0, 3), ("3", 3), (" 3 ", 3), ("3.0", 3), ("1e3", 1000), (0, 0)],
)
def test_paging_numbers_are_read_when_nothing_is_lost(value: Any, expected: int) -> None:
    got = paging_number(value, platform="qianchuan", endpoint="p/", field="total_num", source={})
    assert got == expected
    assert type(got) is int


@pytest.mark.parametrize("value", [2.5, "2.5", -1, "abc", True, None, [3], float("nan"), "inf"])
def test_other_paging_values_are_one_error_naming_field_value_and_request(value: Any) -> None:
    source = tag({"page_info": {}}, "p/", "req-42")
    with pytest.raises(UpstreamError) as caught:
        paging_number(value, platform="qianchuan", endpoint="p/", field="total_num", source=source)
    text = str(caught.value)
    assert isinstance(caught.value, LivekitError)
    assert "\n" not in text
    assert "total_num" in text
    assert repr(value)[:10] in text
    assert caught.value.request_id == "req-42"


class FixedTokens:
    async def access_token(self) -> str:
        return "token"

    async def refresh_after_failure(self, failed_token: str) -> str:  # pragma: no cover
        raise AssertionError("no token is rejected here")


def _pages(page_info: dict[str, Any], rows_per_page: int = 2) -> tuple[int, list[int]]:
    """Items collected and pages requested when every page answers with ``page_info``."""
    asked: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        asked.append(page)
        body = {
            "code": 0,
            "message": "OK",
            "request_id": f"req-{page}",
            "data": {"list": [{"n": page}] * rows_per_page, "page_info": page_info},
        }
        return httpx.Response(200, content=json.dumps(body).encode())

    async def main() -> int:
        settings = load_settings(
            qianchuan_base_url="http://127.0.0.1:1/open_api/", retry_attempts=1
        )
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = QianchuanClient(
                http, settings, FixedTokens(), RateControl(100), asyncio.Semaphore(4)
            )
            items = await client.pages("p/", {}, "list", 2)
            return len(items)

    return run(main()), sorted(asked)


@pytest.mark.parametrize(
    "page_info",
    [{"total_num": "6"}, {"total_num": 6.0}, {"total_number": " 6.0 "}, {"total_page": "3"}],
)
def test_the_client_follows_paging_numbers_sent_as_floats_or_text(
    page_info: dict[str, Any],
) -> None:
    assert _pages(page_info) == (6, [1, 2, 3])


def test_a_fractional_page_count_stops_with_one_error_naming_its_request() -> None:
    with pytest.raises(UpstreamError, match=r"total_num.*'6\.5'") as caught:
        _pages({"total_num": "6.5"})
    assert caught.value.request_id == "req-1"

"""Escaping upstream text: every hostile payload, escaped and rendered by the Markdown renderers
the reports (nbconvert's mistune) and the notebook tools (markdown-it-py, CommonMark) use, comes
back as exactly its visible text: no tag, no link, no image, no invisible characters."""

from __future__ import annotations

import html

import pytest

from livekit.sandbox.hostile import LONG, PAYLOADS
from livekit.text import DISPLAY_LIMIT, ELLIPSIS, escape_html, escape_markdown, plain_text
from tests.helpers.markup import INVISIBLE, render_markdown_it, render_nbconvert
from tests.helpers.markup import parse_html as parse

CASES = [*PAYLOADS, LONG, "www.outside.invalid 与 mail@outside.invalid 与 http://outside.invalid"]


@pytest.mark.parametrize("render", [render_nbconvert, render_markdown_it], ids=["mistune", "mdit"])
@pytest.mark.parametrize("payload", CASES, ids=range(len(CASES)))
def test_escaped_markdown_renders_as_its_text(payload: str, render: object) -> None:
    text = "玻尿酸补水面膜" + payload
    out = render(escape_markdown(text))  # type: ignore[operator]
    parsed = parse(out)
    assert [tag for tag, _ in parsed.tags] == ["p"], out
    assert parsed.tags[0][1] == []
    visible = "".join(parsed.text).strip()
    assert visible == plain_text(text)
    assert visible.startswith("玻尿酸补水面膜")
    assert not INVISIBLE.search(visible)


@pytest.mark.parametrize("payload", CASES, ids=range(len(CASES)))
def test_escaped_markdown_stays_inside_a_table_cell(payload: str) -> None:
    table = f"| 商品 | 点击 |\n|---|---|\n| {escape_markdown('面膜' + payload)} | 12 |\n"
    parsed = parse(render_nbconvert(table))
    cells = [tag for tag, _ in parsed.tags if tag in ("td", "th")]
    assert cells == ["th", "th", "td", "td"]
    assert {tag for tag, _ in parsed.tags} <= {"table", "thead", "tbody", "tr", "th", "td"}
    assert plain_text("面膜" + payload) in "".join(parsed.text)


@pytest.mark.parametrize("payload", CASES, ids=range(len(CASES)))
def test_escaped_html_is_text(payload: str) -> None:
    text = "宠粉福利专场" + payload
    parsed = parse(f'<td title="{escape_html(text)}">{escape_html(text)}</td>')
    assert [tag for tag, _ in parsed.tags] == ["td"]
    assert parsed.tags[0][1] == [("title", plain_text(text))]
    assert "".join(parsed.text) == plain_text(text)


def test_invisible_and_reordering_characters_are_removed() -> None:
    shown = plain_text("A\u202eB\u202c\u2067C\u2069\u200bD\u200c\u200d\u200e\u200f\ufeffE")
    assert shown == "ABCDE"
    assert (
        plain_text("第一行\n# 第二行\r\n> 第三行\u2028第四行\t完")
        == "第一行 # 第二行 > 第三行 第四行 完"
    )


def test_long_text_is_shortened_before_escaping() -> None:
    shown = plain_text(LONG)
    assert len(shown) == DISPLAY_LIMIT
    assert shown.endswith(ELLIPSIS)
    assert LONG.startswith(shown[: -len(ELLIPSIS)])
    # The cut never falls inside an escape: the escaped form unescapes to the shortened text.
    for value in ("&" * 500, "<" * 500, "*" * 500, "a" * 119 + "<b>"):
        escaped = escape_html(value)
        assert html.unescape(escaped) == plain_text(value)
        shown = "".join(parse(render_nbconvert(escape_markdown(value))).text).strip()
        assert shown == plain_text(value)
    assert plain_text("短标题", limit=None) == "短标题"
    assert plain_text("x" * 500, limit=None) == "x" * 500


def test_ordinary_titles_read_the_same() -> None:
    title = "防晒霜 SPF50+ 50ml"
    assert "".join(parse(render_nbconvert(escape_markdown(title))).text).strip() == title
    assert escape_html(title) == title
    assert plain_text(None) == ""
    assert escape_markdown(12.5) == "12\\.5"


# ---- an imported viewer file ---------------------------------------------------------------
def _viewer_csv(province: str, source: str, room_id: str = "7704121983748191672") -> bytes:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = "room_id viewer_id enter_time leave_time province traffic_source"
    writer.writerow([*header.split(), "clicked_product_id", "paid", "pay_amount"])
    enter, leave = "2026-11-26 20:00:00", "2026-11-26 20:03:00"
    writer.writerow([room_id, "v1", enter, leave, province, source, "", "0", "0"])
    return buf.getvalue().encode()


@pytest.mark.parametrize("payload", CASES, ids=range(len(CASES)))
def test_imported_free_text_is_kept_as_data(payload: str) -> None:
    from livekit.viewers import read_viewer_bytes

    province, source = "广东" + payload.replace("\n", " "), "导入来源" + payload.replace("\n", " ")
    frame = read_viewer_bytes(_viewer_csv(province, source), "csv", source="观众明细.csv")
    # Stored as given (trimmed at the ends only); escaping happens where it is shown.
    assert frame["province"].to_list() == [province.strip()]
    assert frame["traffic_source"].to_list() == [source.strip()]


def test_a_bad_hostile_cell_is_one_short_line() -> None:
    from livekit.viewers import ViewerFileError, read_viewer_bytes

    with pytest.raises(ViewerFileError) as caught:
        read_viewer_bytes(
            _viewer_csv("广东", "搜索", room_id="77\u202e" + LONG), "csv", source="观众明细.csv"
        )
    message = str(caught.value)
    assert "\n" not in message
    assert len(message) < 300
    assert "\\u202e" in message  # shown escaped, so it cannot reorder the line
    assert "\u202e" not in message


def test_spaces_of_the_text_itself_stay() -> None:
    assert plain_text("宠粉\u3000福利  专场 ") == "宠粉\u3000福利 专场"

"""One money format (¥1,234.50 in Chinese and English alike) and one date format per language."""

from datetime import UTC, date, datetime
from decimal import Decimal

from django.template import Context, Template
from django.utils import translation

from voucherhub.core.templatetags.vh_format import day_text, money_text, when_text


def test_money_reads_the_same_digits_in_both_languages():
    for language in ("zh-hans", "en"):
        with translation.override(language):
            assert money_text(Decimal("1234.5")) == "¥1,234.50"
            assert money_text(Decimal("-12")) == "-¥12.00"
            assert money_text("0.005") == "¥0.01"  # rounded once, half up
            assert money_text(None) == "" and money_text("no amount") == ""
            assert money_text(Decimal("10"), "USD") == "US$10.00"


def test_a_moment_reads_in_the_readers_time_zone_and_language_never_as_iso(settings):
    moment = datetime(2027, 3, 7, 1, 39, 29, 436524, tzinfo=UTC)  # 09:39 in Asia/Shanghai
    with translation.override("zh-hans"):
        assert when_text(moment) == "2027-03-07 09:39"
        assert when_text(moment.isoformat()) == "2027-03-07 09:39"  # a stored ISO string reads the same
        assert day_text(date(2027, 3, 7)) == "2027-03-07"
    with translation.override("en"):
        assert when_text(moment) == "7 Mar 2027, 09:39"
        assert day_text(moment) == "7 Mar 2027"
    assert when_text("not a date") == "" and when_text(None) == ""


def test_the_filters_and_the_empty_state_render_in_a_template():
    template = Template(
        "{% load vh_format %}{{ amount|money }} {{ moment|when }}"
        '{% include "core/_empty.html" with message="Nothing" action_url="/x/" action_label="Do it" %}'
    )
    with translation.override("zh-hans"):
        html = template.render(Context({"amount": Decimal("1234.5"), "moment": datetime(2027, 3, 7, 1, 39, tzinfo=UTC)}))
    assert html.startswith("¥1,234.50 2027-03-07 09:39") and 'data-testid="empty-state"' in html and 'href="/x/"' in html


def test_an_export_never_turns_text_into_a_formula():
    import io

    from openpyxl import load_workbook

    from voucherhub.core.listing import Column, table_response

    rows = [('=HYPERLINK("http://evil.test","click")', Decimal("1.5")), ("@SUM(A1)", Decimal("2"))]
    columns = [Column("Name", "text"), Column("Amount", "money")]
    csv = table_response(rows=rows, columns=columns, name="t", fmt="csv").content.decode("utf-8-sig").splitlines()
    assert csv[1].startswith("\"'=HYPERLINK(") and csv[2] == "'@SUM(A1),2.00"
    sheet = load_workbook(io.BytesIO(table_response(rows=rows, columns=columns, name="t", fmt="xlsx").content)).active
    assert sheet.cell(row=2, column=1).data_type == "s" and sheet.cell(row=2, column=1).value.startswith("=HYPERLINK(")
    assert sheet.cell(row=3, column=2).value == 2 and sheet.cell(row=3, column=2).number_format == "#,##0.00"

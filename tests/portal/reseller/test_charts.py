"""Charts carry their figures as text, so they read without hovering."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from portal.money import format_amount
from portal.reseller.charts import Series, line_chart, nice_ceiling

SVG = "{http://www.w3.org/2000/svg}"


def test_every_point_is_labelled_with_its_value():
    svg = line_chart(
        "Revenue",
        ["Sep", "Oct", "Nov"],
        [Series("Revenue", [11700, 14100, 0]), Series("Licence cost", [3000, 3500, 0])],
        format_value=format_amount,
    )

    root = ET.fromstring(str(svg))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"$117.00", "$141.00", "$30.00", "$35.00"} <= set(texts)
    assert {"Sep", "Oct", "Nov", "Revenue", "Licence cost"} <= set(texts)
    assert len(list(root.iter(f"{SVG}circle"))) == 6


def test_titles_are_escaped():
    svg = str(line_chart("<script>", ["a"], [Series("x & y", [1])]))

    assert "<script>" not in svg
    assert "x &amp; y" in svg


def test_series_must_match_the_labels():
    with pytest.raises(ValueError, match="one value per label"):
        line_chart("t", ["a", "b"], [Series("s", [1])])


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (7, 10), (11, 20), (140, 200), (4100, 5000), (50, 50)]
)
def test_axis_tops_are_round_numbers(value, ceiling):
    assert nice_ceiling(value) == ceiling

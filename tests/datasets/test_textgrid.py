import pytest

from brainalign.datasets.textgrid import read_textgrid

SHORT = '''File type = "ooTextFile"
Object class = "TextGrid"

0
2.5
<exists>
2
"IntervalTier"
"words"
0
2.5
2
0
1.25
"say ""hi"""
1.25
2.5
"sp"
"TextTier"
"marks"
0
2.5
1
0.5
"click"
'''


def test_short_format_with_quotes_and_point_tier(tmp_path):
    path = tmp_path / "short.TextGrid"
    path.write_text(SHORT, encoding="utf-16")
    tiers = read_textgrid(path)
    assert list(tiers) == ["words"]
    assert tiers["words"]["text"].tolist() == ['say "hi"', "sp"]
    assert tiers["words"]["offset"].tolist() == [1.25, 2.5]


def test_not_a_textgrid(tmp_path):
    path = tmp_path / "bad.TextGrid"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not a Praat TextGrid"):
        read_textgrid(path)


def test_truncated(tmp_path):
    path = tmp_path / "cut.TextGrid"
    path.write_text(SHORT[: SHORT.index('"sp"')])
    with pytest.raises(ValueError, match="truncated"):
        read_textgrid(path)

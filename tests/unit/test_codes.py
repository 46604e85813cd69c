import pytest

from graph_seed.codes import display_code, is_valid_code, normalize_code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[9수01-01]", "9수01-01"),
        (" 9수01-01 ", "9수01-01"),
        ("［9수 01-01］", "9수01-01"),
        ("12미적Ⅰ01-01", "12미적Ⅰ-01-01"),  # official hyphen after the Roman numeral restored
        ("[12미적II-02-03]", "12미적Ⅱ-02-03"),  # Latin letters typed for the numeral
        ("10공수1-01-01", "10공수1-01-01"),
    ],
)
def test_codes_are_normalised_to_one_spelling(raw, expected):
    assert normalize_code(raw) == expected


@pytest.mark.parametrize("code", ["9수01-01", "2수04-03", "10공수2-03-03", "12미적Ⅱ-01-02", "12확통01-01"])
def test_real_kr2022_codes_are_valid(code):
    assert is_valid_code(code, "kr-2022")


@pytest.mark.parametrize("code", ["9수1-1", "3수01-01", "수01-01", "9수01-01-01", "", "4.NF.B.3"])
def test_malformed_codes_are_rejected(code):
    assert not is_valid_code(code, "kr-2022")


def test_unknown_curriculum_has_no_valid_codes():
    assert not is_valid_code("9수01-01", "xx-9999")


def test_display_code_brackets_korean_codes_only():
    assert display_code("9수01-01") == "[9수01-01]"
    assert display_code("K.CC.A.1") == "K.CC.A.1"

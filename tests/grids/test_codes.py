import pytest
from django.core.exceptions import ValidationError

from grids.codes import Level, next_code, parse_level, validate_code


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("519900", Level.CITY, None),
        ("519902", Level.DISTRICT, "519900"),
        ("519902001", Level.STREET, "519902"),
        ("519902001002", Level.COMMUNITY, "519902001"),
        ("519902001002015", Level.GRID, "519902001002"),
    ],
)
def test_valid_codes(code, level, parent):
    validate_code(code, level, parent)


@pytest.mark.parametrize(
    ("code", "level", "parent", "message"),
    [
        ("5199", Level.CITY, None, "6 digits"),
        ("519901", Level.CITY, None, "ends in 00"),
        ("510000", Level.CITY, None, "ends in 00"),
        ("51990A", Level.DISTRICT, "519900", "digits only"),
        ("529902", Level.DISTRICT, "519900", "must begin with 5199"),
        ("519900", Level.DISTRICT, "519900", "cannot all be 0"),
        ("519902001", Level.STREET, "519903", "must begin with 519903"),
        ("51990200", Level.STREET, "519902", "9 digits"),
        ("519902001000", Level.COMMUNITY, "519902001", "cannot all be 0"),
        ("5199020010010011", Level.GRID, "519902001001", "15 digits"),
        ("519902001", Level.STREET, None, "needs a parent"),
        ("５１９９００", Level.CITY, None, "digits only"),
    ],
)
def test_invalid_codes_say_why(code, level, parent, message):
    with pytest.raises(ValidationError) as exc:
        validate_code(code, level, parent)
    assert message in " ".join(exc.value.messages)


def test_next_code_follows_highest_sibling_and_fills_gaps_when_full():
    assert next_code("519900", Level.CITY, []) == "519901"
    assert next_code("519900", Level.CITY, ["519902", "519905"]) == "519906"
    assert next_code("519902", Level.DISTRICT, ["519902001"]) == "519902002"
    assert next_code("519902001001", Level.COMMUNITY, []) == "519902001001001"
    full = [f"5199{i:02d}" for i in range(1, 100) if i != 42]
    assert next_code("519900", Level.CITY, full) == "519942"
    assert next_code("519900", Level.CITY, [*full, "519942"]) is None


@pytest.mark.parametrize(("text", "level"), [("grid", 5), ("3", 3), ("社区", 4), ("District", 2)])
def test_parse_level(text, level):
    assert parse_level(text) == level


def test_parse_level_refuses_unknown():
    with pytest.raises(ValidationError):
        parse_level("province")

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gis.errors import InvalidIdNumberError, InvalidInputError
from gis.layers.idnumber import (
    PROVINCE_CODES,
    Sex,
    birth_date,
    check_char,
    id_number_problems,
    is_valid_id_number,
    make_id_number,
    parse_id_number,
    sex,
    validate_id_number,
)

TODAY = date(2026, 11, 23)


def test_known_public_example_is_valid() -> None:
    # 1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2  ×  7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
    # = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2; "10X98765432"[2] = "X"
    assert validate_id_number("11010519491231002X", today=TODAY) == "11010519491231002X"


def test_lower_case_x_blanks_and_full_width_digits_are_normalised() -> None:
    assert validate_id_number(" 11010519491231002x\t", today=TODAY) == "11010519491231002X"
    assert (
        validate_id_number("１１０１０５１９４９１２３１００２Ｘ", today=TODAY)
        == "11010519491231002X"
    )


def test_wrong_check_digit_names_the_right_one() -> None:
    # 1 1 0 1 0 1 1 9 9 0 0 3 0 7 1 2 3: 7+9+0+5+0+4+2+9+54+0+0+27+0+35+8+8+6 = 174;
    # 174 mod 11 = 9; "10X98765432"[9] = "3". So ...1233 is valid and ...1234 is not.
    assert is_valid_id_number("110101199003071233", today=TODAY)
    with pytest.raises(InvalidIdNumberError) as err:
        validate_id_number("110101199003071234", today=TODAY)
    assert err.value.reason == "check digit should be 3, got 4"
    assert "110101199003071234" not in str(err.value)  # the number is not echoed into logs


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("", "the ID number is empty"),
        ("1101051949123100", "an ID number has 18 characters, got 16"),
        ("1101O5194912310020", "character 5 is 'O'; the first 17 characters must be digits"),
        ("11010519491231002Y", "the check character must be a digit or X, got 'Y'"),
        ("990105194912310021", "region code starts with 99, which is no province code (GB/T 2260)"),
        ("100105194912310021", "region code starts with 10, which is no province code (GB/T 2260)"),
        ("110101199902301234", "birth date 19990230 is not a date"),
        ("110101190002291234", "birth date 19000229 is not a date"),  # 1900 was no leap year
        ("110101189912311234", "birth date 18991231 is before 1900"),
        ("110101202611241234", "birth date 20261124 is in the future"),
    ],
)
def test_invalid_numbers_give_a_specific_reason(number: str, reason: str) -> None:
    with pytest.raises(InvalidIdNumberError) as err:
        validate_id_number(number, today=TODAY)
    assert err.value.reason == reason
    assert isinstance(err.value, InvalidInputError)


def test_born_today_is_accepted_and_leap_day_2000_is_a_date() -> None:
    assert is_valid_id_number(make_id_number("110101", TODAY, 1), today=TODAY)
    assert is_valid_id_number(make_id_number("310104", date(2000, 2, 29), 2), today=TODAY)


def test_parse_birth_date_and_sex() -> None:
    info = parse_id_number("11010519491231002X", today=TODAY)
    assert (info.region, info.birth_date, info.sex) == ("110105", date(1949, 12, 31), Sex.FEMALE)
    assert birth_date("110101199003071233") == date(1990, 3, 7)
    assert sex("110101199003071233") is Sex.MALE  # sequence digit 3 is odd


def test_make_id_number_matches_the_hand_computed_example() -> None:
    assert make_id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"
    assert check_char("11010119900307123") == "3"


@pytest.mark.parametrize(
    ("region", "birth", "seq"),
    [
        ("11010", date(1990, 1, 1), 1),
        ("990101", date(1990, 1, 1), 1),
        ("110101", date(1899, 1, 1), 1),
        ("110101", date(1990, 1, 1), 1000),
    ],
)
def test_make_id_number_refuses_bad_parts(region: str, birth: date, seq: int) -> None:
    with pytest.raises(InvalidInputError):
        make_id_number(region, birth, seq)


@given(
    province=st.sampled_from(sorted(PROVINCE_CODES)),
    rest=st.integers(0, 9999),
    birth=st.dates(date(1900, 1, 1), TODAY),
    seq=st.integers(0, 999),
)
def test_generated_numbers_validate_and_round_trip(
    province: str, rest: int, birth: date, seq: int
) -> None:
    number = make_id_number(f"{province}{rest:04d}", birth, seq)
    info = parse_id_number(number, today=TODAY)
    assert info.birth_date == birth
    assert info.sex is (Sex.MALE if seq % 2 else Sex.FEMALE)


@given(
    province=st.sampled_from(sorted(PROVINCE_CODES)),
    birth=st.dates(date(1900, 1, 1), TODAY),
    seq=st.integers(0, 999),
    position=st.integers(0, 17),
    digit=st.sampled_from("0123456789"),
)
def test_a_single_changed_character_is_detected(
    province: str, birth: date, seq: int, position: int, digit: str
) -> None:
    # MOD 11-2 detects every single-character substitution.
    number = make_id_number(f"{province}0101", birth, seq)
    changed = number[:position] + digit + number[position + 1 :]
    assert is_valid_id_number(changed, today=TODAY) == (changed == number)


def test_vectorised_problems_agree_with_the_scalar_reasons() -> None:
    numbers = [
        "11010519491231002x",
        "110101199003071234",
        "110101199902301234",
        "110101189912311234",
        "110101202611241234",
        "990105194912310021",
        "1101051949123100",
        "1101O5194912310020",
        "",
        make_id_number("650102", date(1970, 6, 1), 7),
    ]
    expected = []
    for n in numbers:
        try:
            validate_id_number(n, today=TODAY)
            expected.append(None)
        except InvalidIdNumberError as exc:
            expected.append(exc.reason)
    assert id_number_problems(numbers, today=TODAY).tolist() == expected
    assert expected[0] is None and expected[-1] is None and expected[1] is not None


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("gis.layers.idnumber"))
    assert result.attempted > 0 and result.failed == 0

"""Citizen ID numbers (公民身份号码, GB 11643-1999): validation, what they encode, synthetic ones.

An 18-character number is 6 address digits (GB/T 2260 county code of the registered
residence) + 8 birth-date digits (YYYYMMDD) + 3 sequence digits (odd = male, even = female)
+ 1 check character (ISO 7064 MOD 11-2: ``0``-``9`` or ``X``). See standards.md §6.5.

What is checked, in this order, so that the first reason reported is the most basic one:
length, characters, province code (first two digits, GB/T 2260), birth date (a real calendar
date, not before 1900, not in the future), check character. Only the province part of the
address code is checked: the full county list changes every year and would need a
versioned table (standards.md §6.4); a made-up county in a real province passes.

Error reasons never repeat the whole number, so they can go into logs and import reports
without leaking it (they may name the birth date, which is the point of that reason).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from gis.errors import InvalidIdNumberError, InvalidInputError

ID_NUMBER_LENGTH: Final = 18
WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
"""ISO 7064 MOD 11-2 weights, 2**(17 - i) mod 11 for position i = 0..16."""
CHECK_CHARS: Final = "10X98765432"
"""Check character for each value of (weighted sum mod 11)."""
EARLIEST_BIRTH_DATE: Final = date(1900, 1, 1)

PROVINCE_CODES: Final = frozenset(
    {
        *(str(c) for c in range(11, 16)),  # 北京 天津 河北 山西 内蒙古
        *(str(c) for c in range(21, 24)),  # 辽宁 吉林 黑龙江
        *(str(c) for c in range(31, 38)),  # 上海 江苏 浙江 安徽 福建 江西 山东
        *(str(c) for c in range(41, 47)),  # 河南 湖北 湖南 广东 广西 海南
        *(str(c) for c in range(50, 55)),  # 重庆 四川 贵州 云南 西藏
        *(str(c) for c in range(61, 66)),  # 陕西 甘肃 青海 宁夏 新疆
        "71",  # 台湾
        "81",  # 香港
        "82",  # 澳门
        "91",  # 外国人永久居留身份证 (2023 format)
    }
)
"""First two digits of a GB/T 2260 address code (province level)."""

_BEIJING: Final = ZoneInfo("Asia/Shanghai")
_SHAPE: Final = re.compile(r"[0-9]{17}[0-9X]")
_NOT_DIGIT: Final = re.compile(r"[^0-9]")


class Sex(StrEnum):
    """Sex as the sequence digit encodes it (odd = male)."""

    MALE = "M"
    FEMALE = "F"


@dataclass(frozen=True)
class IdNumberInfo:
    """A valid ID number and what it says about its holder."""

    number: str
    region: str
    birth_date: date
    sex: Sex


def check_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits.

    Examples
    --------
    >>> check_char("11010519491231002")
    'X'
    """
    if len(first17) != ID_NUMBER_LENGTH - 1 or not first17.isascii() or not first17.isdigit():
        raise InvalidInputError(
            f"need 17 ASCII digits to compute a check character, got {first17!r}"
        )
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def _today(today: date | None) -> date:
    # Beijing's date: a baby born today in Shanghai must not be "in the future" at 07:00 UTC.
    return today or datetime.now(UTC).astimezone(_BEIJING).date()


def _reason(number: str, today: date) -> str | None:
    """Return why a normalised number is invalid, or None when it is valid."""
    if not number:
        return "the ID number is empty"
    if len(number) != ID_NUMBER_LENGTH:
        return f"an ID number has {ID_NUMBER_LENGTH} characters, got {len(number)}"
    if not number.isascii() or not _SHAPE.fullmatch(number):
        head = _NOT_DIGIT.search(number[:17])
        if head is not None:
            return (
                f"character {head.start() + 1} is {head.group()!r}; "
                "the first 17 characters must be digits"
            )
        return f"the check character must be a digit or X, got {number[17]!r}"
    if number[:2] not in PROVINCE_CODES:
        return f"region code starts with {number[:2]}, which is no province code (GB/T 2260)"
    digits = number[6:14]
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return f"birth date {digits} is not a date"
    if born < EARLIEST_BIRTH_DATE:
        return f"birth date {digits} is before {EARLIEST_BIRTH_DATE:%Y}"
    if born > today:
        return f"birth date {digits} is in the future"
    expected = check_char(number[:17])
    if number[17] != expected:
        return f"check digit should be {expected}, got {number[17]}"
    return None


def normalise_id_number(text: str) -> str:
    """Fold full-width characters (NFKC), strip blanks, upper-case ``x`` to ``X``.

    Chinese input methods often type full-width digits (``１１０１``); they are the same number.
    """
    return unicodedata.normalize("NFKC", text).strip().upper()


def validate_id_number(text: str, *, today: date | None = None) -> str:
    """Return the normalised ID number, or raise naming the first thing wrong with it.

    Parameters
    ----------
    text
        The number as typed; blanks around it and a lower-case ``x`` are accepted.
    today
        The date births may not be after (default: today in Beijing); tests pin it.

    Raises
    ------
    InvalidIdNumberError
        With ``reason`` such as ``"check digit should be 5, got 3"`` or
        ``"birth date 19990230 is not a date"``.

    Examples
    --------
    >>> validate_id_number(" 11010519491231002x ")
    '11010519491231002X'
    """
    number = normalise_id_number(text)
    reason = _reason(number, _today(today))
    if reason is not None:
        raise InvalidIdNumberError(reason)
    return number


def is_valid_id_number(text: str, *, today: date | None = None) -> bool:
    """Return True when `validate_id_number` would accept ``text``."""
    return _reason(normalise_id_number(text), _today(today)) is None


def parse_id_number(text: str, *, today: date | None = None) -> IdNumberInfo:
    """Validate ``text`` and return the number with its region, birth date and sex."""
    number = validate_id_number(text, today=today)
    return IdNumberInfo(number, number[:6], birth_date(number), sex(number))


def birth_date(number: str) -> date:
    """Return the birth date encoded in a valid 18-character number."""
    digits = number.strip()[6:14]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InvalidIdNumberError(f"birth date {digits} is not a date") from None


def sex(number: str) -> Sex:
    """Return the sex the sequence digit (17th character) encodes: odd is male."""
    digit = number.strip()[16:17]
    if not digit.isdigit():
        raise InvalidIdNumberError("the 17th character (sequence digit) must be a digit")
    return Sex.MALE if int(digit) % 2 else Sex.FEMALE


def make_id_number(region6: str, birth: date, seq: int) -> str:
    """Return a valid synthetic ID number (for tests and the demo-data generator).

    Parameters
    ----------
    region6
        A 6-digit GB/T 2260 county code such as ``"110101"`` (Dongcheng).
    birth
        Birth date, not before 1900.
    seq
        Sequence 0-999; its parity decides the sex (odd = male).

    Examples
    --------
    >>> make_id_number("110105", date(1949, 12, 31), 2)
    '11010519491231002X'
    """
    if len(region6) != 6 or not region6.isascii() or not region6.isdigit():
        raise InvalidInputError(f"region code must be 6 digits, got {region6!r}")
    if region6[:2] not in PROVINCE_CODES:
        raise InvalidInputError(f"region code {region6} starts with no province code")
    if birth < EARLIEST_BIRTH_DATE:
        raise InvalidInputError(f"birth date {birth} is before {EARLIEST_BIRTH_DATE:%Y}")
    if not 0 <= seq <= 999:
        raise InvalidInputError(f"sequence must be 0-999, got {seq}")
    first17 = f"{region6}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)


def id_number_problems(
    numbers: Iterable[str] | pd.Series, *, today: date | None = None
) -> pd.Series:
    """Return, for each number, why it is invalid (a string) or None; vectorised.

    Gives the same reasons as `validate_id_number` (the two are tested against each other),
    at about a microsecond per number, for importing a register of a million residents.
    Numbers are normalised first as `normalise_id_number` does.
    """
    raw = pd.Series(numbers, dtype="object") if not isinstance(numbers, pd.Series) else numbers
    values = raw.astype("string").str.normalize("NFKC").str.strip().str.upper()
    reasons = pd.Series(pd.NA, index=raw.index, dtype="object")
    ok = values.notna() & (values.str.len() == ID_NUMBER_LENGTH)
    ok &= values.str.fullmatch(_SHAPE.pattern).fillna(False).astype(bool)
    ok_idx = np.flatnonzero(ok.to_numpy())
    # Anything that fails the shape test is rare: give it the scalar function's exact reason.
    bad = ~ok.to_numpy()
    day = _today(today)
    if bad.any():
        reasons.iloc[np.flatnonzero(bad)] = [
            _reason("" if pd.isna(v) else str(v), day) for v in values[bad]
        ]
    if ok_idx.size:
        good = values.iloc[ok_idx].to_numpy(dtype=str)
        codes = np.frombuffer("".join(good).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
        digits = codes[:, :17].astype(np.int64) - ord("0")
        expected = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)[
            (digits @ np.asarray(WEIGHTS, dtype=np.int64)) % 11
        ]
        province = pd.Index(good).str[:2].isin(list(PROVINCE_CODES))
        born_text = pd.Index(good).str[6:14]
        born = pd.to_datetime(born_text, format="%Y%m%d", errors="coerce")
        not_date = born.isna()
        too_early = ~not_date & (born < pd.Timestamp(EARLIEST_BIRTH_DATE))
        future = ~not_date & (born > pd.Timestamp(day))
        # np.select takes the first true condition: the most basic reason wins, as in `_reason`.
        kind = np.select(
            [~np.asarray(province), not_date, too_early, future, codes[:, 17] != expected],
            [1, 2, 3, 4, 5],
            default=0,
        )
        out = np.full(good.size, None, dtype=object)
        for i in np.flatnonzero(kind):  # only the invalid numbers, which are few
            out[i] = _vector_reason(int(kind[i]), good[i], chr(expected[i]))
        reasons.iloc[ok_idx] = out
    return reasons.where(reasons.notna(), None)


def _vector_reason(kind: int, number: str, expected: str) -> str:
    """Word reason number ``kind`` of `id_number_problems` exactly as `_reason` does."""
    digits = number[6:14]
    return {
        1: f"region code starts with {number[:2]}, which is no province code (GB/T 2260)",
        2: f"birth date {digits} is not a date",
        3: f"birth date {digits} is before {EARLIEST_BIRTH_DATE:%Y}",
        4: f"birth date {digits} is in the future",
        5: f"check digit should be {expected}, got {number[17]}",
    }[kind]

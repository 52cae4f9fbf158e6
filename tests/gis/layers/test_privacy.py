import base64

import pytest

from gis.errors import DecryptionError, InvalidPhoneError, SecretKeyError
from gis.privacy import (
    BlindIndexer,
    FieldCipher,
    blind_index,
    generate_key,
    is_valid_phone,
    load_key,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_phone,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("110101199003071234", "1101**********1234"),
        ("11010519491231002X", "1101**********002X"),
        ("12345678", "********"),
        ("", ""),
    ],
)
def test_mask_id_number_hides_the_birth_date(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked
    if len(number) == 18:
        assert number[6:14] not in masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812341234", "138****1234"),
        ("010-62751234", "010-****1234"),
        ("0571-8765432", "0571-***5432"),
        ("1234", "****"),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("李小明", "李*明"), ("欧阳小明", "欧**明"), ("王", "*"), ("", "")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("13812341234", "13812341234"),
        ("+86 138-1234-1234", "13812341234"),
        ("008619912341234", "19912341234"),
        ("010-62751234", "010-62751234"),
        ("(010)62751234", "010-62751234"),
        ("02188881234", "021-88881234"),
        ("0571-87654321", "0571-87654321"),
        ("0571 8765432", "0571-8765432"),
    ],
)
def test_normalise_valid_phones(raw: str, canonical: str) -> None:
    assert normalise_phone(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "12812341234",
        "1381234123",
        "138123412345",
        "62751234",
        "010-1275123",
        "010-6275123",
        "12345",
        "",
    ],
)
def test_reject_invalid_phones(raw: str) -> None:
    assert not is_valid_phone(raw)
    with pytest.raises(InvalidPhoneError):
        normalise_phone(raw)


def test_invalid_phone_error_does_not_echo_the_number() -> None:
    with pytest.raises(InvalidPhoneError) as err:
        normalise_phone("12812341234")
    assert "12812341234" not in str(err.value)


def test_encrypt_decrypt_round_trip_with_random_nonces() -> None:
    cipher = FieldCipher(KEY_A)
    a = cipher.encrypt("11010519491231002X", column="id_number")
    b = cipher.encrypt("11010519491231002X", column="id_number")
    assert a != b  # fresh nonce each time: equal values do not give equal tokens
    assert a[0] == 1 and len(a) == 1 + 12 + 18 + 16
    assert b"1101" not in a
    assert cipher.decrypt(a, column="id_number") == "11010519491231002X"
    assert cipher.decrypt(memoryview(b), column="id_number") == "11010519491231002X"
    assert cipher.decrypt(cipher.encrypt("张三")) == "张三"


@pytest.mark.parametrize("position", [0, 1, 12, 13, 20, -1])
def test_tampered_token_is_rejected(position: int) -> None:
    cipher = FieldCipher(KEY_A, previous={2: KEY_B}) if position == 0 else FieldCipher(KEY_A)
    token = bytearray(cipher.encrypt("13812341234", column="phone"))
    token[position] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(token), column="phone")


def test_wrong_key_wrong_column_and_short_token_are_rejected() -> None:
    token = FieldCipher(KEY_A).encrypt("13812341234", column="phone")
    with pytest.raises(DecryptionError, match="wrong key"):
        FieldCipher(KEY_B).decrypt(token, column="phone")
    with pytest.raises(DecryptionError, match="column 'id_number'"):
        FieldCipher(KEY_A).decrypt(token, column="id_number")
    with pytest.raises(DecryptionError, match="too short"):
        FieldCipher(KEY_A).decrypt(token[:20], column="phone")
    with pytest.raises(DecryptionError, match="key version 1"):
        FieldCipher(KEY_B, version=2).decrypt(token, column="phone")


def test_key_rotation() -> None:
    old = FieldCipher(KEY_A, version=1)
    token = old.encrypt("张三", column="name")
    new = FieldCipher(KEY_B, version=2, previous={1: KEY_A})
    assert new.needs_rotation(token)
    assert new.decrypt(token, column="name") == "张三"
    rotated = new.rotate(token, column="name")
    assert rotated[0] == 2 and not new.needs_rotation(rotated)
    assert FieldCipher(KEY_B, version=2).decrypt(rotated, column="name") == "张三"
    assert new.rotate(rotated, column="name") == rotated
    with pytest.raises(SecretKeyError):
        FieldCipher(KEY_A, version=1, previous={1: KEY_B})
    with pytest.raises(SecretKeyError):
        FieldCipher(KEY_A, version=0)


def test_blind_index_is_deterministic_per_key() -> None:
    first = blind_index(KEY_A, "11010519491231002X")
    assert first == blind_index(KEY_A, "11010519491231002X")
    assert len(first) == 32
    assert first != blind_index(KEY_B, "11010519491231002X")
    assert first != blind_index(KEY_A, "110101199003071233")
    indexer = BlindIndexer(KEY_A)
    assert indexer.index_many(["11010519491231002X", "x"]) == [first, indexer.index("x")]


def test_blind_index_key_is_not_the_encryption_key() -> None:
    # The index must not be a plain HMAC under the master key (nor its encryption sub-key).
    import hashlib
    import hmac

    value = "11010519491231002X"
    assert blind_index(KEY_A, value) != hmac.new(KEY_A, value.encode(), hashlib.sha256).digest()


def test_generate_and_load_key() -> None:
    text = generate_key()
    assert len(load_key(text)) == 32
    assert generate_key() != text
    with pytest.raises(SecretKeyError, match="32 bytes"):
        load_key(base64.b64encode(bytes(16)).decode(), origin="GRIDGIS_SECRET_KEY")
    with pytest.raises(SecretKeyError, match="GRIDGIS_SECRET_KEY is not valid base64"):
        load_key("not base64!!", origin="GRIDGIS_SECRET_KEY")
    with pytest.raises(SecretKeyError):
        FieldCipher(bytes(31))


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("gis.privacy"))
    assert result.attempted > 0 and result.failed == 0

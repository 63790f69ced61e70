"""Storage webhooks without a server: the signature over the raw body, parsing the event Supabase
sends on ``storage.objects`` changes, which events start nothing, and the session an INSERT
announces."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from pydantic import ValidationError

from service.store import NewSession
from service.webhooks import (
    SIGNATURE_HEADER,
    StorageEvent,
    StorageObject,
    ignore_reason,
    new_session,
    signature_valid,
)

SECRET = "webhook-secret-" + "w" * 32
BUCKET = "c3d-examples"
OWNER = "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b"

# A storage.objects INSERT as the Supabase database webhook sends it.
INSERT_EVENT: dict[str, Any] = {
    "type": "INSERT",
    "table": "objects",
    "schema": "storage",
    "record": {
        "id": "0b7c4a8e-9d1f-4c2b-a3e5-f6a7b8c9d0e1",
        "name": "P0042/Ghostly_Emg_20230321_17-50-17-0881.c3d",
        "bucket_id": BUCKET,
        "owner": OWNER,
        "owner_id": OWNER,
        "version": "5c3b2a19-8e7d-4f6a-b5c4-d3e2f1a0b9c8",
        "created_at": "2024-05-02T10:15:30.123456+00:00",
        "updated_at": "2024-05-02T10:15:30.123456+00:00",
        "last_accessed_at": "2024-05-02T10:15:30.123456+00:00",
        "path_tokens": ["P0042", "Ghostly_Emg_20230321_17-50-17-0881.c3d"],
        "user_metadata": None,
        "metadata": {
            "eTag": '"9a0364b9e99bb480dd25e1f0284c8555"',
            "size": 2_874_880,
            "mimetype": "application/octet-stream",
            "cacheControl": "max-age=3600",
            "lastModified": "2024-05-02T10:15:31.000Z",
            "contentLength": 2_874_880,
            "httpStatusCode": 200,
        },
    },
    "old_record": None,
}


def event(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(INSERT_EVENT)
    payload.update(changes)
    return payload


def record(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(INSERT_EVENT["record"]), **changes}


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


BODY = json.dumps(INSERT_EVENT).encode()


# --- signature --------------------------------------------------------------------------------


def test_signature_header_name_is_x_supabase_signature() -> None:
    assert SIGNATURE_HEADER == "x-supabase-signature"


def test_signature_valid_accepts_hex_hmac_of_raw_body() -> None:
    assert signature_valid(BODY, sign(BODY), SECRET) is True


def test_signature_valid_accepts_sha256_prefix() -> None:
    assert signature_valid(BODY, "sha256=" + sign(BODY), SECRET) is True


def test_signature_valid_accepts_upper_case_hex() -> None:
    assert signature_valid(BODY, sign(BODY).upper(), SECRET) is True


def test_signature_valid_accepts_surrounding_whitespace() -> None:
    assert signature_valid(BODY, f"  {sign(BODY)}\n", SECRET) is True


def test_signature_valid_refuses_signature_made_with_other_secret() -> None:
    assert signature_valid(BODY, sign(BODY, "other-secret-" + "o" * 32), SECRET) is False


def test_signature_valid_refuses_body_with_one_byte_changed() -> None:
    signature = sign(BODY)
    tampered = bytearray(BODY)
    index = BODY.index(b"2874880")
    tampered[index] = ord("9")  # size 2874880 -> 9874880

    assert signature_valid(bytes(tampered), signature, SECRET) is False


def test_signature_valid_refuses_signature_of_reserialised_json() -> None:
    # The signature covers the raw bytes, not the JSON they decode to.
    reserialised = json.dumps(json.loads(BODY), separators=(",", ":")).encode()

    assert reserialised != BODY
    assert signature_valid(BODY, sign(reserialised), SECRET) is False


@pytest.mark.parametrize("header", [None, "", "sha256="])
def test_signature_valid_refuses_missing_or_empty_header(header: str | None) -> None:
    assert signature_valid(BODY, header, SECRET) is False


@pytest.mark.parametrize(
    "header",
    [
        "not-hex-at-all",
        "0" * 64,
        "sha1=" + hashlib.sha1(BODY).hexdigest(),  # the wrong algorithm
        hashlib.sha256(BODY).hexdigest(),  # a plain hash, no key
        "é" * 64,
    ],
)
def test_signature_valid_refuses_malformed_or_unkeyed_signature(header: str) -> None:
    assert signature_valid(BODY, header, SECRET) is False


def test_signature_valid_refuses_truncated_signature() -> None:
    assert signature_valid(BODY, sign(BODY)[:-2], SECRET) is False


# --- parsing the event ------------------------------------------------------------------------


def test_storage_event_parses_supabase_insert_payload() -> None:
    parsed = StorageEvent.model_validate_json(BODY)

    assert (parsed.type, parsed.table, parsed.schema_) == ("INSERT", "objects", "storage")
    assert parsed.record is not None
    assert parsed.record.name == "P0042/Ghostly_Emg_20230321_17-50-17-0881.c3d"
    assert parsed.record.bucket_id == BUCKET
    assert parsed.record.owner == parsed.record.owner_id == OWNER
    assert parsed.record.metadata is not None
    assert parsed.record.metadata.size == 2_874_880
    assert parsed.record.metadata.mimetype == "application/octet-stream"
    # Fields we do not model are kept, not refused.
    assert parsed.record.model_extra is not None
    assert parsed.record.model_extra["id"] == "0b7c4a8e-9d1f-4c2b-a3e5-f6a7b8c9d0e1"
    assert parsed.record.metadata.model_extra == {
        "eTag": '"9a0364b9e99bb480dd25e1f0284c8555"',
        "cacheControl": "max-age=3600",
        "lastModified": "2024-05-02T10:15:31.000Z",
        "contentLength": 2_874_880,
        "httpStatusCode": 200,
    }
    assert parsed.model_extra == {"old_record": None}


def test_storage_event_parses_record_with_null_metadata_and_owner() -> None:
    parsed = StorageEvent.model_validate(event(record=record(metadata=None, owner=None)))

    assert parsed.record is not None
    assert parsed.record.metadata is None
    assert parsed.record.owner is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({k: v for k, v in INSERT_EVENT.items() if k != "type"}, "type"),
        (event(record=record(name="")), "record.name"),
        (event(record={"name": "a.c3d"}), "record.bucket_id"),
        (event(record=record(metadata={"size": -1})), "record.metadata.size"),
    ],
)
def test_storage_event_refuses_payload_missing_or_bad_field(
    payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        StorageEvent.model_validate(payload)

    assert [".".join(map(str, e["loc"])) for e in caught.value.errors()] == [field]


# --- what starts nothing ----------------------------------------------------------------------


def test_ignore_reason_is_none_for_c3d_insert_in_watched_bucket() -> None:
    assert ignore_reason(StorageEvent.model_validate(INSERT_EVENT), BUCKET) is None


def test_ignore_reason_is_none_for_upper_case_c3d_extension() -> None:
    parsed = StorageEvent.model_validate(event(record=record(name="P1/TRIAL.C3D")))

    assert ignore_reason(parsed, BUCKET) is None


def test_ignore_reason_names_other_bucket() -> None:
    parsed = StorageEvent.model_validate(event(record=record(bucket_id="avatars")))

    assert ignore_reason(parsed, BUCKET) == "bucket 'avatars' is not watched"


@pytest.mark.parametrize("name", ["P1/notes.txt", "P1/trial.c3d.zip", "P1/c3d", "P1/trial.c3"])
def test_ignore_reason_refuses_non_c3d_name(name: str) -> None:
    parsed = StorageEvent.model_validate(event(record=record(name=name)))

    assert ignore_reason(parsed, BUCKET) == "not a .c3d recording"


def test_ignore_reason_names_update_event() -> None:
    parsed = StorageEvent.model_validate(event(type="UPDATE", old_record=record()))

    assert ignore_reason(parsed, BUCKET) == (
        "only INSERT events on storage objects count (got UPDATE on objects)"
    )


def test_ignore_reason_names_delete_event_without_record() -> None:
    parsed = StorageEvent.model_validate(event(type="DELETE", record=None, old_record=record()))

    assert ignore_reason(parsed, BUCKET) == (
        "only INSERT events on storage objects count (got DELETE on objects)"
    )


def test_ignore_reason_names_insert_on_other_table() -> None:
    parsed = StorageEvent.model_validate(event(table="buckets"))

    assert ignore_reason(parsed, BUCKET) == (
        "only INSERT events on storage objects count (got INSERT on buckets)"
    )


def test_ignore_reason_for_insert_without_record() -> None:
    parsed = StorageEvent.model_validate(event(record=None))

    assert ignore_reason(parsed, BUCKET) == "the event carries no record"


# --- the session an INSERT announces ----------------------------------------------------------


def test_new_session_from_insert_takes_patient_owner_and_size() -> None:
    parsed = StorageEvent.model_validate(INSERT_EVENT)
    assert parsed.record is not None

    assert new_session(parsed.record) == NewSession(
        bucket=BUCKET,
        object_name="P0042/Ghostly_Emg_20230321_17-50-17-0881.c3d",
        file_name="Ghostly_Emg_20230321_17-50-17-0881.c3d",
        file_size=2_874_880,
        owner_id=OWNER,
        patient_id="P0042",
    )


def test_new_session_takes_patient_from_first_of_nested_folders() -> None:
    session = new_session(StorageObject.model_validate(record(name="P7/2024-05/week1/a.c3d")))

    assert (session.patient_id, session.file_name) == ("P7", "a.c3d")


def test_new_session_without_folder_has_no_patient() -> None:
    session = new_session(StorageObject.model_validate(record(name="loose.c3d")))

    assert (session.patient_id, session.file_name) == (None, "loose.c3d")


def test_new_session_prefers_owner_id_over_owner() -> None:
    session = new_session(StorageObject.model_validate(record(owner="legacy", owner_id="new")))

    assert session.owner_id == "new"


def test_new_session_falls_back_to_owner_without_owner_id() -> None:
    session = new_session(StorageObject.model_validate(record(owner="legacy", owner_id=None)))

    assert session.owner_id == "legacy"


def test_new_session_without_any_owner_has_no_owner() -> None:
    session = new_session(StorageObject.model_validate(record(owner=None, owner_id=None)))

    assert session.owner_id is None


def test_new_session_without_metadata_has_no_size() -> None:
    session = new_session(StorageObject.model_validate(record(metadata=None)))

    assert session.file_size is None


def test_new_session_with_metadata_lacking_size_has_no_size() -> None:
    session = new_session(StorageObject.model_validate(record(metadata={"mimetype": "x/y"})))

    assert session.file_size is None


@pytest.mark.parametrize("name", ["p\u0000/x.c3d", "p/\nx.c3d", "p/x\u007f.c3d"])
def test_storage_event_refuses_control_characters_in_object_names(name: str) -> None:
    with pytest.raises(ValidationError, match="should match pattern"):
        StorageEvent.model_validate(
            {"type": "INSERT", "table": "objects", "record": {"name": name, "bucket_id": "b"}}
        )

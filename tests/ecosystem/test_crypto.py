import pytest
from django.db import connection, models
from django.test.utils import isolate_apps

from ecosystem import crypto
from ecosystem.fields import EncryptedTextField
from ecosystem.ids import PrefixedId

OLD = {"old": b"o" * 32}
NEW = {"new": b"n" * 32, **OLD}
AAD = crypto.associated_data("customer", "email", "cus_1")


def test_round_trip():
    plaintext = b"ada@example.com"
    sealed = crypto.encrypt(plaintext, aad=AAD)
    version, kid, payload = sealed.split(".")
    raw = crypto._b64decode(payload)
    # nonce || ciphertext || tag: the ciphertext is the plaintext XOR an AES-CTR keystream, so
    # it equals the plaintext only if 15 keystream bytes are all zero (2**-120). A short
    # substring such as b"ada" does turn up in random output (about 3 runs in 20,000).
    ciphertext = raw[crypto.NONCE_BYTES : -16]
    assert (version, kid) == ("v1", crypto.key_id(sealed))
    assert len(raw) == crypto.NONCE_BYTES + len(plaintext) + 16
    assert ciphertext != plaintext
    assert plaintext not in sealed.encode() and plaintext not in raw
    assert crypto.decrypt(sealed, aad=AAD) == plaintext


def test_each_encryption_uses_a_fresh_nonce():
    assert crypto.encrypt(b"same", aad=AAD) != crypto.encrypt(b"same", aad=AAD)


def test_a_changed_byte_is_detected():
    sealed = crypto.encrypt(b"ada@example.com", aad=AAD)
    head, payload = sealed.rsplit(".", 1)
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(f"{head}.{flipped}", aad=AAD)


def test_a_ciphertext_moved_to_another_row_fails():
    sealed = crypto.encrypt(b"ada@example.com", aad=AAD)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(sealed, aad=crypto.associated_data("customer", "email", "cus_2"))
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(sealed, aad=crypto.associated_data("customer", "phone", "cus_1"))


def test_rotation_new_key_encrypts_old_key_still_decrypts():
    before = crypto.encrypt(b"secret", aad=AAD, keys=OLD)
    after = crypto.encrypt(b"secret", aad=AAD, keys=NEW)
    assert crypto.key_id(before) == "old" and crypto.key_id(after) == "new"
    assert crypto.decrypt(before, aad=AAD, keys=NEW) == b"secret"
    with pytest.raises(crypto.DecryptionError, match="No configured key"):
        crypto.decrypt(after, aad=AAD, keys=OLD)


@pytest.mark.parametrize("garbage", ["", "v1.only", "v9.k.abc", "v1.dev1.!!!"])
def test_garbage_is_a_decryption_error(garbage):
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(garbage, aad=AAD)


def test_blind_index_matches_normalised_forms_only():
    def index(value):
        return crypto.blind_index(value, purpose="email")

    assert index("  Ada@Example.COM ") == index("ada@example.com")
    assert index("ﬁ@example.com") == index("fi@example.com")  # NFKC folds the ligature
    assert index("ada@example.com") != index("ada@example.org")
    assert index("ada@example.com") != crypto.blind_index("ada@example.com", purpose="phone")
    assert index("ada@example.com") != crypto.blind_index(
        "ada@example.com", purpose="email", key=b"k" * 32
    )


@pytest.fixture
def secret_model(transactional_db):
    with isolate_apps("ecosystem"):

        class Secret(models.Model):
            id = models.CharField(primary_key=True, max_length=40, default=PrefixedId("sec"))
            value = EncryptedTextField(null=True)

            class Meta:
                app_label = "ecosystem"
                db_table = "test_secret"

            def __str__(self):
                return self.pk

        with connection.schema_editor() as editor:
            editor.create_model(Secret)
        try:
            yield Secret
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(Secret)


def _stored(row_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM test_secret WHERE id = %s", [row_id])
        return cursor.fetchone()[0]


def test_encrypted_field_stores_ciphertext_and_reads_plaintext(secret_model):
    row = secret_model.objects.create(value="ada@example.com")
    assert "ada" not in _stored(row.pk)
    assert secret_model.objects.get(pk=row.pk).value == "ada@example.com"
    assert secret_model.objects.only("id").get(pk=row.pk).value == "ada@example.com"


def test_encrypted_field_keeps_null(secret_model):
    row = secret_model.objects.create(value=None)
    assert _stored(row.pk) is None
    assert secret_model.objects.get(pk=row.pk).value is None


def test_encrypted_field_value_copied_to_another_row_is_unreadable(secret_model):
    first = secret_model.objects.create(value="ada@example.com")
    second = secret_model.objects.create(value="bob@example.com")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE test_secret SET value = %s WHERE id = %s", [_stored(first.pk), second.pk]
        )
    with pytest.raises(crypto.DecryptionError):
        _ = secret_model.objects.get(pk=second.pk).value

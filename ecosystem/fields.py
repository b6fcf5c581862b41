"""An encrypted model field built on the crypto module."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute

from ecosystem import crypto


class Ciphertext(str):
    """A value as stored: decrypted lazily, when the row (and so its id) is known."""


class EncryptedAttribute(DeferredAttribute):
    def __get__(self, instance: models.Model | None, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Ciphertext):
            field = self.field
            assert isinstance(field, EncryptedTextField)
            value = field.decrypt_for(instance, value)
            instance.__dict__[field.attname] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):
    """Text sealed with AES-GCM, bound to table, column and primary key.

    The model's primary key must be set before the first save (prefixed ids are generated on
    instantiation), because the row id is part of the associated data. Filtering on this
    field is meaningless; use a blind index column for lookups.
    """

    descriptor_class = EncryptedAttribute

    def _aad(self, instance: models.Model) -> bytes:
        if instance.pk is None:
            raise ValueError(f"{type(instance).__name__} needs a primary key before encrypting.")
        return crypto.associated_data(instance._meta.db_table, str(self.column), instance.pk)

    def decrypt_for(self, instance: models.Model, value: Ciphertext) -> str:
        return crypto.decrypt(str(value), aad=self._aad(instance)).decode()

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else Ciphertext(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = model_instance.__dict__.get(self.attname)
        if value is None or isinstance(value, Ciphertext):
            return None if value is None else str(value)
        return crypto.encrypt(str(value).encode(), aad=self._aad(model_instance))

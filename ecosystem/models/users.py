from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **extra: Any) -> User:
        if not username:
            raise ValueError("A username is required.")
        user = self.model(username=self.model.normalize_username(username), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True, kind=User.Kind.ADMIN)
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who signs in: customers, partner staff and ecosystem admins.

    Deliberately has no email or name column: a customer's contact details are PII and live
    encrypted on their Customer record, found through a blind index. For customers the
    username is an opaque handle, never their email address.
    """

    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        PARTNER_STAFF = "partner_staff", "Partner staff"
        ADMIN = "admin", "Ecosystem admin"

    username = models.CharField(
        max_length=150,
        unique=True,
        validators=[UnicodeUsernameValidator()],
        error_messages={"unique": "That username is taken."},
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ADMIN)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["customer", "partner_staff", "admin"]),
                name="user_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def is_ecosystem_admin(self) -> bool:
        return self.is_active and self.is_staff and self.kind == self.Kind.ADMIN

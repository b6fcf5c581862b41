from __future__ import annotations

from django import forms
from django.contrib.auth.password_validation import validate_password

from partners.models import Partner


class PartnerApplicationForm(forms.Form):
    """The public application. Field limits mirror the model; the service has the last word
    (uniqueness), and its refusals are shown next to the field they concern."""

    name = forms.CharField(label="Brand name", max_length=120)
    slug = forms.SlugField(
        label="Short name (letters, digits, hyphens)",
        max_length=50,
        help_text="Used in URLs and API payloads, e.g. harbor-mutual.",
    )
    # Starts on "Choose a sector", never on the first sector: a brand that skips the field is
    # told so, instead of applying as an insurer by accident.
    sector = forms.ChoiceField(
        choices=[("", "Choose a sector"), *Partner.Sector.choices],
        error_messages={"required": "Choose the sector your brand works in."},
    )
    website = forms.URLField(max_length=200, required=False, assume_scheme="https")
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
        required=False,
        label="What your brand does",
    )
    contact_name = forms.CharField(label="Contact person", max_length=120)
    contact_email = forms.EmailField(label="Contact email", max_length=254)
    # Needed before approval (consent receipts name them); may be given later.
    address = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=500,
        required=False,
        label="Postal address of the data controller",
    )
    phone = forms.CharField(max_length=40, required=False, label="Phone for privacy questions")
    privacy_notice_url = forms.URLField(
        max_length=500, required=False, assume_scheme="https", label="Privacy notice URL"
    )


class SetPasswordForm(forms.Form):
    password1 = forms.CharField(
        label="New password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )
    password2 = forms.CharField(
        label="Repeat the password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )

    def __init__(self, user, *args, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                validate_password(first, self.user)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned

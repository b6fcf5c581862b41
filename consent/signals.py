"""What consent announces to the layers above it (DESIGN.md, Layout).

Consent may not import the exchanges built on it, yet a referral must end the moment its
consent does. So consent sends ``consent_ended`` inside the transaction that ended the
consent, and each exchange connects its receiver in its ``AppConfig.ready()``. Receivers run
synchronously in that transaction: a receiver that fails rolls the ending back.
"""

from django.dispatch import Signal

# Sent with consent=<Consent>, status=<the terminal status>, reason=<str>.
consent_ended = Signal()

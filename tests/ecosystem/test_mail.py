"""Development mail backends never print or store a recipient's address."""

from django.core.mail import EmailMessage, EmailMultiAlternatives

from ecosystem.mail import RedactingConsoleBackend, RedactingFileBackend

EMAIL = "Zoe.Ng@Mail.example"


def test_the_development_mail_backend_prints_no_address(capsys):

    message = EmailMessage("Hello", "Body text", "gw@example.com", [EMAIL])

    RedactingConsoleBackend().send_messages([message])

    printed = capsys.readouterr().out
    assert "Body text" in printed
    assert EMAIL.lower() not in printed.lower() and "redacted-" in printed


def test_the_file_mail_backend_stores_no_address(tmp_path):
    message = EmailMessage("Hello", "Body text", "gw@example.com", [EMAIL], cc=[EMAIL])

    RedactingFileBackend(file_path=str(tmp_path)).send_messages([message])

    (written,) = [path.read_text() for path in tmp_path.iterdir()]
    assert "Body text" in written
    assert EMAIL.lower() not in written.lower() and "redacted-" in written


def test_redaction_keeps_the_html_part_and_leaves_the_message_as_sent(capsys):
    message = EmailMultiAlternatives("Hello", "Body text", "gw@example.com", [EMAIL])
    message.attach_alternative("<p>Body <b>html</b></p>", "text/html")

    RedactingConsoleBackend().send_messages([message])

    printed = capsys.readouterr().out
    assert "<b>html</b>" in printed and EMAIL.lower() not in printed.lower()
    assert message.to == [EMAIL]  # the caller's message is not changed

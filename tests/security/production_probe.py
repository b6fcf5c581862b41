"""Run under production settings (DEBUG=0, see test_api8): GET each path given on the command
line over HTTPS and print the answers' status, headers and cookie flags as JSON."""

import json
import sys

import django

django.setup()
from django.test import Client  # noqa: E402

http = Client(HTTP_HOST="gateway.example.com")
answers = {}
for path in sys.argv[1:]:
    response = http.get(path, secure=True)
    answers[path] = {
        "status": response.status_code,
        "headers": dict(response.items()),
        "cookies": {
            name: {"secure": bool(c["secure"]), "httponly": bool(c["httponly"])}
            for name, c in response.cookies.items()
        },
        "body": response.content.decode(errors="replace"),
    }
print(json.dumps(answers))

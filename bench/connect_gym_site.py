"""A small loopback "gym website" for trying the connect flow by hand (docs/connect.md).

    make run                                   # in one terminal: the gateway on :8000
    .venv/bin/python bench/connect_gym_site.py # in another: the gym's website on :8400

Open http://127.0.0.1:8400/ and click "Connect with the ecosystem". The script is what a
partner's website does, with authlib: discovery, the authorization request with PKCE (S256),
the code exchange, ID-token validation against the JWKS, UserInfo, an API call under the new
consent, and a refresh. After you disconnect Pulse Fitness in the portal, /api and /refresh
show the gateway refusing both. It uses the seeded Pulse Fitness connect client.
"""

from __future__ import annotations

import html
import json
import os
import secrets
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

GATEWAY = os.environ.get("GATEWAY", "http://127.0.0.1:8000")
PORT = int(os.environ.get("GYM_PORT", "8400"))
CLIENT_ID = os.environ.get("CONNECT_CLIENT_ID", "cli_demopulseconnect")
CLIENT_SECRET = os.environ.get(
    "CONNECT_CLIENT_SECRET", "demo-secret-pulse-connect-00000000000000000"
)
REDIRECT_URI = f"http://127.0.0.1:{PORT}/callback"
SCOPE = "openid profile email partner:read consent:read share:rewards:harbor-mutual"

state: dict[str, object] = {}


def metadata() -> dict:
    return requests.get(f"{GATEWAY}/.well-known/openid-configuration", timeout=10).json()


def session(token: dict | None = None) -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token=token,
    )


def verify_id_token(id_token: str, meta: dict, nonce: str) -> dict:
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        id_token,
        keys,
        claims_options={
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": CLIENT_ID},
            "nonce": {"essential": True, "value": nonce},
        },
    )
    claims.validate()  # exp, iat
    return dict(claims)


class Gym(BaseHTTPRequestHandler):
    def _page(self, title: str, body: object, status: int = 200) -> None:
        text = body if isinstance(body, str) else json.dumps(body, indent=2)
        page = (
            f"<!doctype html><title>{title}</title><h1>Pulse Fitness · {title}</h1>"
            f"{f'<pre>{html.escape(text)}</pre>' if text else ''}"
            '<p><a href="/connect">Connect with the ecosystem</a> · <a href="/">Home</a> · '
            '<a href="/api">Call the API</a> · <a href="/refresh">Refresh the token</a></p>'
        )
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(page.encode())

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        meta = metadata()
        if path == "/":
            self._page("Home", "")
        elif path == "/connect":
            verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
            url, sent_state = session().create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
            state.update(verifier=verifier, nonce=nonce, state=sent_state)
            self.send_response(302)
            self.send_header("Location", url)
            self.end_headers()
        elif path == "/callback":
            token = session().fetch_token(
                meta["token_endpoint"],
                authorization_response=f"http://127.0.0.1:{PORT}{self.path}",
                state=state["state"],
                code_verifier=state["verifier"],
            )
            state["token"] = token
            claims = verify_id_token(token["id_token"], meta, str(state["nonce"]))
            userinfo = session(token).get(meta["userinfo_endpoint"]).json()
            self._page("Signed in", {"id_token": claims, "userinfo": userinfo})
        elif path == "/api":
            response = session(state.get("token")).get(f"{GATEWAY}/api/v1/partner")
            self._page(f"API: {response.status_code}", response.text, response.status_code)
        elif path == "/refresh":
            token = state.get("token") or {}
            response = requests.post(
                meta["token_endpoint"],
                data={"grant_type": "refresh_token", "refresh_token": token.get("refresh_token")},
                auth=(CLIENT_ID, CLIENT_SECRET),
                timeout=10,
            )
            if response.ok:
                state["token"] = response.json()
            self._page(f"Refresh: {response.status_code}", response.text, response.status_code)
        else:
            self._page("Not found", "", 404)


if __name__ == "__main__":
    print(f"The gym's website: http://127.0.0.1:{PORT}/ (gateway {GATEWAY})")
    HTTPServer(("127.0.0.1", PORT), Gym).serve_forever()

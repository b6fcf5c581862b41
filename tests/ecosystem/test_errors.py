import pytest

pytestmark = pytest.mark.urls("tests.ecosystem.urls")

PROBLEM = "application/problem+json"


def _assert_problem(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"] and body["detail"]
    assert body["instance"] == response["Request-Id"]
    return body


def test_every_response_carries_a_request_id(client):
    first = client.get("/healthz")["Request-Id"]
    second = client.get("/healthz")["Request-Id"]
    assert first.startswith("req_") and second.startswith("req_") and first != second


def test_domain_error_becomes_problem_json_with_its_code(client):
    body = _assert_problem(client.get("/api/test/domain-error"), 409, "widget_frozen")
    assert body["detail"] == "The widget is already frozen."


def test_validation_error_lists_each_field(client):
    response = client.post(
        "/api/test/validation", {"name": "x" * 30, "count": 0}, content_type="application/json"
    )
    body = _assert_problem(response, 400, "validation_error")
    fields = {error["field"]: error for error in body["errors"]}
    assert set(fields) == {"name", "count"}
    assert fields["name"]["code"] == "max_length"
    assert fields["count"]["code"] == "min_value"


def test_malformed_json_is_a_clear_400(client):
    response = client.post("/api/test/validation", "{not json", content_type="application/json")
    _assert_problem(response, 400, "malformed_request")


def test_unknown_api_path_is_problem_json_404(client):
    _assert_problem(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_unknown_html_path_is_an_html_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_unauthenticated_call_is_401_with_bearer_challenge(client):
    response = client.get("/api/test/protected")
    _assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_invalid_bearer_token_is_401_invalid_token(db, client):
    response = client.get("/api/test/protected", HTTP_AUTHORIZATION="Bearer nope")
    _assert_problem(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_no_credentials_at_all_is_401_not_authenticated(db, client):
    response = client.get("/api/test/protected")
    _assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_unhandled_error_on_the_api_is_problem_json_500(client, monkeypatch):
    from tests.ecosystem import urls

    def boom(self, request):
        raise RuntimeError("bug")

    monkeypatch.setattr(urls.DomainErrorApi, "get", boom)
    client.raise_request_exception = False
    response = client.get("/api/test/domain-error")
    _assert_problem(response, 500, "server_error")
    assert "bug" not in response.content.decode()

"""The front door's own errors (deploy/nginx/nginx.conf) are the services' JSON error body,
never nginx's HTML: unrouted paths, methods static files do not take, oversized bodies and
headers, and no instance answering. Real nginx, real services. (A request line over 16 KiB
remains nginx's HTML 414: nginx cannot hand a request it could not read to an error
location; README says so.)"""

import json
import urllib.error
import urllib.request

import procs


def request(stack, method, path, body=None, headers=None):
    """(status, Content-Type, parsed JSON body) of one request to the front door."""
    req = urllib.request.Request(stack.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers["Content-Type"], json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], json.loads(error.read())


def assert_json_error(answer, status, code):
    actual, content_type, body = answer
    assert (actual, body["error"]) == (status, code), answer
    assert content_type.startswith("application/json"), answer
    assert isinstance(body["message"], str) and body["message"], answer


def test_nginx_errors_are_json(stack):
    assert_json_error(request(stack, "GET", "/no/such/route"), 404, "not_found")
    assert_json_error(request(stack, "POST", "/index.html", b"{}"), 405, "method_not_allowed")
    big = b'{"title":"' + b"x" * 20_000 + b'"}'
    assert_json_error(
        request(stack, "POST", "/tasks", big, {"Content-Type": "application/json"}), 413, "payload_too_large"
    )
    assert_json_error(request(stack, "GET", "/me", headers={"X-Padding": "p" * 20_000}), 400, "bad_request")
    # A service's own errors pass through as the service wrote them.
    assert_json_error(request(stack, "GET", "/me"), 401, "invalid_token")


def test_operator_endpoints_are_not_routed(stack):
    # Each instance serves these on its own port; the front door never does.
    for path in ("/metrics", "/openapi.json", "/readyz", "/internal/users/x/tasks"):
        assert_json_error(request(stack, "GET", path), 404, "not_found")


def test_no_instance_answering_is_a_json_503_with_retry_after(stack):
    tasks = stack.processes[1]
    tasks.terminate()
    procs.stop(tasks, grace=10)
    req = urllib.request.Request(stack.url + "/me")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("the stopped tasks-service answered")
    except urllib.error.HTTPError as error:
        assert error.code == 503
        assert error.headers["Retry-After"] == "1"
        assert json.loads(error.read())["error"] == "service_unavailable"

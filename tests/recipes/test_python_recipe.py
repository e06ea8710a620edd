"""The Python recipe of docs/verify-in-other-languages.md, run as written
(docs/recipes/python/tessera_verify.py) against a real auth-service in EdDSA mode: a
logged-in user's token verifies, and algorithm confusion, a wrong `typ`, a wrong `aud`, an
expired token, an unknown key and a forged signature are refused."""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "docs" / "recipes" / "python"))
import procs  # noqa: E402
from tessera_verify import InvalidToken, TesseraVerifier  # noqa: E402

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
PASSWORD = "correct horse battery"


def call(url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def pem(private_key):
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def auth(tmp_path_factory):
    """An auth-service signing with a fresh Ed25519 key: (base URL, private key, kid)."""
    directory = tmp_path_factory.mktemp("auth")
    private_key = Ed25519PrivateKey.generate()
    key_file = directory / "eddsa.pem"
    key_file.write_bytes(pem(private_key))
    port = procs.free_port()
    process = procs.spawn(
        [TARGET / "debug" / "auth-service"],
        {
            "PATH": os.environ["PATH"],
            "NO_COLOR": "1",
            "AUTH__DEV": "true",
            "AUTH__LISTEN": f"127.0.0.1:{port}",
            "AUTH__WORKERS": "1",
            "AUTH__JWT__ALGORITHM": "eddsa",
            "AUTH__JWT__PRIVATE_KEY_FILE": str(key_file),
            "AUTH__REFRESH__SECRET": "recipes-refresh-secret-0123456789abcdef",
            "AUTH__PASSWORD__MEMORY_KIB": "1024",
            "AUTH__PASSWORD__ITERATIONS": "1",
        },
        directory / "auth-service.log",
    )
    try:
        procs.wait_for_port(port, 20)
        url = f"http://127.0.0.1:{port}"
        kid = call(f"{url}/.well-known/jwks.json")["keys"][0]["kid"]
        yield url, private_key, kid
    finally:
        process.terminate()
        procs.stop(process, grace=10)


@pytest.fixture(scope="module")
def verifier(auth):
    url, _, _ = auth
    return TesseraVerifier(f"{url}/.well-known/jwks.json")


@pytest.fixture(scope="module")
def token(auth):
    url, _, _ = auth
    credentials = {"username": "pia", "password": PASSWORD}
    call(f"{url}/auth/register", credentials)
    return call(f"{url}/auth/login", credentials)["access_token"]


def claims(**changes):
    now = int(time.time())
    base = {
        "iss": "tessera", "aud": "tasks", "sub": "eve", "sid": "sid-eve", "jti": "j1",
        "iat": now, "nbf": now, "exp": now + 600, "role": "user", "ver": 0,
    }
    return {**base, **changes}


def test_a_real_token_verifies(verifier, token):
    verified = verifier.verify(token)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert verified["sub"] == payload["sub"]
    assert verified["aud"] == "tasks"


def test_algorithm_confusion_is_refused(verifier, auth):
    _, private_key, kid = auth
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="algorithm"):
        verifier.verify(f"{header}.{payload}.{b64(signature)}")
    none = b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": kid}).encode())
    with pytest.raises(InvalidToken):
        verifier.verify(f"{none}.{payload}.")


@pytest.mark.parametrize(
    "case, headers, changes, reason",
    [
        ("wrong typ", {"typ": "JWT"}, {}, "type"),
        ("no typ", {"typ": None}, {}, "type"),
        ("wrong aud", {}, {"aud": "billing"}, "audience"),
        ("wrong iss", {}, {"iss": "someone-else"}, "issuer"),
        ("expired", {}, {"exp": int(time.time()) - 120, "iat": int(time.time()) - 720}, "expired"),
        ("no sid", {}, {"sid": None}, "sid"),
    ],
)
def test_well_signed_but_wrong_tokens_are_refused(verifier, auth, case, headers, changes, reason):
    _, private_key, kid = auth
    header = {"typ": "at+jwt", "kid": kid, **headers}
    body = {k: v for k, v in claims(**changes).items() if v is not None}
    forged = jwt.encode(body, pem(private_key), algorithm="EdDSA", headers=header)
    if headers.get("typ", "") is None:
        # PyJWT writes `typ: JWT` unless told otherwise; strip the member entirely.
        head, rest = forged.split(".", 1)
        decoded = json.loads(base64.urlsafe_b64decode(head + "=="))
        decoded.pop("typ", None)
        forged = b64(json.dumps(decoded).encode()) + "." + rest
    with pytest.raises(InvalidToken, match=f"(?i){reason}"):
        verifier.verify(forged)


def test_an_unknown_key_and_a_forged_signature_are_refused(verifier, auth, token):
    _, _, kid = auth
    stranger = Ed25519PrivateKey.generate()
    unknown = jwt.encode(claims(), pem(stranger), algorithm="EdDSA", headers={"typ": "at+jwt", "kid": "not-ours"})
    with pytest.raises(InvalidToken):
        verifier.verify(unknown)
    ours_by_name = jwt.encode(claims(), pem(stranger), algorithm="EdDSA", headers={"typ": "at+jwt", "kid": kid})
    with pytest.raises(InvalidToken, match="Signature"):
        verifier.verify(ours_by_name)
    head, payload, signature = token.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["sub"] = "mallory"
    with pytest.raises(InvalidToken, match="Signature"):
        verifier.verify(f"{head}.{b64(json.dumps(tampered).encode())}.{signature}")

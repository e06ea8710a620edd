#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/seeds/<target>/: valid inputs of each kind
(tokens the verify_token target's HS256 key accepts at its fixed time, refresh tokens, forms,
Basic headers, request bodies, a key-set manifest) and a few near misses. Rerun after a
format changes; the fuzzer finds the rest."""

import base64
import hashlib
import hmac
import json
import pathlib

SEEDS = pathlib.Path(__file__).resolve().parent / "seeds"
NOW = 1_800_000_000  # fuzz_targets/verify_token.rs
SECRET = b"fuzz-hs256-secret-0123456789abcdef!"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def token(claims, header=None):
    header = header or {"alg": "HS256", "kid": "fuzz", "typ": "at+jwt"}
    signing_input = f"{b64(compact(header))}.{b64(json.dumps(claims, separators=(',', ':')).encode())}"
    tag = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(tag)}"


def claims(**changes):
    base = {"iss": "tessera", "sub": "0b6f4c5e-7d2a-4a8e-9c3b-000000000001", "aud": "tasks",
            "exp": NOW + 600, "iat": NOW, "nbf": NOW, "jti": "cRuV5NbjiCDHsZB4aDRd8g",
            "sid": "sess-00000001", "role": "user", "ver": 1}
    return {**base, **changes}


def write(target, name, data):
    path = SEEDS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


write("verify_token", "valid", token(claims()))
write("verify_token", "service", token(claims(sub="svc:billing", role="service", scope="tasks:purge")))
write("verify_token", "audiences", token(claims(aud=["billing", "tasks"])))
write("verify_token", "expired", token(claims(exp=NOW - 600, iat=NOW - 1200, nbf=NOW - 1200)))
write("verify_token", "respelled-header", token(claims(), {"typ": "at+jwt", "alg": "HS256", "kid": "fuzz"}))
write("verify_token", "alg-none", f"{b64(compact({'alg': 'none', 'kid': 'fuzz', 'typ': 'at+jwt'}))}.{b64(compact(claims()))}.")
write("verify_token", "eddsa-header", token(claims(), {"alg": "EdDSA", "kid": "x", "typ": "at+jwt"}))

sid = b64(bytes(range(32)))
write("refresh_token", "valid", f"{sid}.{b64(bytes(range(32, 64)))}")
write("refresh_token", "session-id", sid)

write("oauth_input", "password-grant", "grant_type=password&username=alice&password=p%40ss+word&client_id=tessera-cli")
write("oauth_input", "basic", "Basic " + base64.b64encode(b"billing:s3cr%2Bt").decode())
write("oauth_input", "duplicate", "grant_type=a&grant_type=b")

write("json_bodies", "credentials", b"\x00" + b'{"username":"alice","password":"correct horse battery"}')
write("json_bodies", "refresh", b"\x01" + b'{"refresh_token":"abc.def"}')
write("json_bodies", "password-change", b"\x02" + b'{"current_password":"a","new_password":"b"}')
write("json_bodies", "deletion", b"\x03" + b'{"password":"a"}')
write("json_bodies", "new-task", b"\x04" + b'{"title":"write the README"}')
write("json_bodies", "patch", b"\x05" + b'{"title":"x","done":true}')
write("json_bodies", "wrong-type", b"\x05" + b'{"done":"S3CR3T"}')

write("key_manifest", "valid", json.dumps({"alg": "EdDSA", "keys": [
    {"kid": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V", "signs_from": NOW, "drop_at": None}]}))

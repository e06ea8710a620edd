"""Verifying Tessera access tokens in a Python service with PyJWT (docs/verify-in-other-languages.md).

Tested in CI against a running auth-service in EdDSA mode (tests/recipes/). Needs
``PyJWT`` and ``cryptography`` (for EdDSA/ES256 keys).
"""

import jwt

TOKEN_TYPE = "at+jwt"


class InvalidToken(Exception):
    """The token must be refused: answer 401 with `WWW-Authenticate: Bearer error="invalid_token"`."""


class TesseraVerifier:
    """Checks a Tessera access token the way auth-core does: one pinned algorithm (never the
    token's `alg`), a key from the auth-service's JWKS by `kid`, `typ: at+jwt`, `iss`, `aud`,
    `exp`/`nbf`/`iat` with a small leeway, and the claims Tessera always sets."""

    def __init__(self, jwks_url, issuer="tessera", audience="tasks", algorithm="EdDSA", leeway=30):
        self.issuer = issuer
        self.audience = audience
        self.algorithm = algorithm  # EdDSA or ES256, whatever the auth-service signs with
        self.leeway = leeway
        # Caches the key set for 5 minutes; an unknown `kid` refetches at most every 30 s.
        self.jwks = jwt.PyJWKClient(jwks_url, lifespan=300, cooldown_duration=30, timeout=5)

    def verify(self, token):
        """The verified claims of `token`, or InvalidToken."""
        try:
            header = jwt.get_unverified_header(token)
            # RFC 9068: an access token says so; an ID token or another JWT is not one.
            if str(header.get("typ", "")).lower() not in (TOKEN_TYPE, "application/" + TOKEN_TYPE):
                raise InvalidToken("token type is not at+jwt")
            if header.get("alg") != self.algorithm:
                raise InvalidToken("token algorithm is not allowed")
            key = self.jwks.get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                key.key,
                algorithms=[self.algorithm],  # pinned: the token's `alg` chooses nothing
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid"]},
            )
        except InvalidToken:
            raise
        except (jwt.PyJWTError, ValueError) as error:
            raise InvalidToken(str(error)) from None

//! Issuing: an access token is `base64url(header) . base64url(claims) . base64url(sig)`
//! with the header `{"alg", "typ": "at+jwt", "kid"}` of the key that signs at `iat`.

use base64::Engine as _;

use crate::{Claims, KeyRing, SignError, B64};

impl KeyRing {
    /// Signs `claims` with the key that signs at their `iat` and returns the compact JWS.
    pub fn sign(&self, claims: &Claims) -> Result<String, SignError> {
        let key = self
            .signing_key_at(claims.iat)
            .ok_or(SignError::NoSigningKey)?;
        let payload = serde_json::to_vec(claims).map_err(|_| SignError::Json)?;
        let mut token =
            String::with_capacity(key.encoded_header().len() + payload.len() * 4 / 3 + 100);
        token.push_str(key.encoded_header());
        token.push('.');
        B64.encode_string(&payload, &mut token);
        let signature = key.sign(token.as_bytes())?;
        token.push('.');
        B64.encode_string(signature, &mut token);
        Ok(token)
    }
}

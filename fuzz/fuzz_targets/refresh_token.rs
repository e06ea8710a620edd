//! Bytes in as a refresh token and as a session id: parsing never panics, and whatever
//! parses prints back to the same text (one encoding per token).
#![no_main]

use auth_service::refresh::{RefreshToken, SessionId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(token) = RefreshToken::parse(text) {
        assert_eq!(token.expose(), text);
    }
    if let Some(sid) = SessionId::parse(text) {
        assert_eq!(sid.as_str(), text);
    }
});

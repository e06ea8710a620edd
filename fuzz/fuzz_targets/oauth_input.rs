//! Bytes in as an OAuth form body and as an `Authorization` header value (HTTP Basic client
//! credentials): parsing never panics, and every error message stays short (a client's
//! input is never echoed at length).
#![no_main]

use auth_service::oauth::wire::{parse_basic, parse_form};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(err) = parse_form(data) {
        assert!(err.to_string().len() < 200, "{err}");
    }
    if let Err(err) = parse_basic(Some(data)) {
        assert!(err.to_string().len() < 200, "{err}");
    }
});

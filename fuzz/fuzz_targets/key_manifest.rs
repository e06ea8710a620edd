//! Bytes in as the key set's manifest (`keys.json`): parsing never panics.
#![no_main]

use std::path::Path;

use auth_service::keys::set::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::parse(Path::new("/keys"), data);
});

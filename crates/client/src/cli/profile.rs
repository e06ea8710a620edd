//! Profiles: one saved login each, as a token file `<config dir>/tessera/<profile>.json`
//! (mode 0600). `TESSERA_CONFIG_DIR` replaces `<config dir>/tessera` (tests, containers).

use std::path::PathBuf;

use tessera_client::FileStore;

use crate::exit::CliError;

/// Longest profile name.
const MAX_PROFILE_CHARS: usize = 64;

/// The token file of `profile`.
pub fn store(profile: &str) -> Result<FileStore, CliError> {
    let valid = !profile.is_empty()
        && profile.len() <= MAX_PROFILE_CHARS
        && profile
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(CliError::Local(format!(
            "invalid profile name {profile:?}: use 1-{MAX_PROFILE_CHARS} letters, digits, - or _"
        )));
    }
    Ok(FileStore::new(
        config_dir()?.join(format!("{profile}.json")),
    ))
}

fn config_dir() -> Result<PathBuf, CliError> {
    if let Some(dir) = std::env::var_os("TESSERA_CONFIG_DIR").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir()
        .map(|dir| dir.join("tessera"))
        .ok_or_else(|| {
            CliError::Local(
                "no configuration directory (HOME is not set); set TESSERA_CONFIG_DIR".to_owned(),
            )
        })
}

//! Configuration loading (DESIGN.md "Configuration"): the service's own `Default`, then an
//! optional file, then environment variables `<PREFIX>__SECTION__KEY`.

use std::path::Path;

use serde::de::DeserializeOwned;

pub use config::ConfigError;

/// Loads settings of type `T` (whose serde defaults are the built-in defaults).
///
/// `prefix` is `AUTH` or `TASKS`; both separators are set explicitly to `__` because the
/// crate's default changed between versions. `list_keys` names settings that take a
/// comma-separated list from the environment (e.g. `cors.allowed_origins`).
pub fn load<T: DeserializeOwned>(
    prefix: &str,
    file: Option<&Path>,
    list_keys: &[&str],
) -> Result<T, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        builder = builder.add_source(config::File::from(path).required(true));
    }
    let mut env = config::Environment::with_prefix(prefix)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true);
    if !list_keys.is_empty() {
        env = env.list_separator(",");
        for key in list_keys {
            env = env.with_list_parse_key(key);
        }
    }
    builder.add_source(env).build()?.try_deserialize()
}

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

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        listen: String,
        dev: bool,
        jwt: Jwt,
        origins: Vec<String>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Jwt {
        secret_file: Option<String>,
        leeway_secs: u64,
    }

    /// One test touches the environment (a unique prefix keeps it from other tests).
    #[test]
    fn file_then_environment_with_double_underscores_and_lists() {
        let path =
            std::env::temp_dir().join(format!("tessera-settings-{}.toml", std::process::id()));
        std::fs::write(&path, "listen = \"0.0.0.0:1\"\n[jwt]\nleeway_secs = 5\n").unwrap();
        std::env::set_var("SKTEST__DEV", "true");
        std::env::set_var("SKTEST__JWT__SECRET_FILE", "/run/secrets/jwt");
        std::env::set_var("SKTEST__ORIGINS", "https://a.example,https://b.example");
        let loaded: Sample = load("SKTEST", Some(&path), &["origins"]).unwrap();
        assert_eq!(
            loaded,
            Sample {
                listen: "0.0.0.0:1".into(),
                dev: true,
                jwt: Jwt {
                    secret_file: Some("/run/secrets/jwt".into()),
                    leeway_secs: 5,
                },
                origins: vec!["https://a.example".into(), "https://b.example".into()],
            }
        );
        std::env::set_var("SKTEST__TYPO", "x");
        assert!(
            load::<Sample>("SKTEST", None, &["origins"]).is_err(),
            "unknown settings are refused"
        );
        for name in [
            "SKTEST__DEV",
            "SKTEST__JWT__SECRET_FILE",
            "SKTEST__ORIGINS",
            "SKTEST__TYPO",
        ] {
            std::env::remove_var(name);
        }
        std::fs::remove_file(&path).unwrap();
    }
}

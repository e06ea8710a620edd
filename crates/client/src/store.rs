//! Where a session's tokens persist between runs: [`MemoryStore`] (nothing survives the
//! process) or [`FileStore`] (one JSON file, mode 0600, replaced atomically). Implement
//! [`TokenStore`] for anything else (a keyring, a database row).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use crate::error::StorageError;
use crate::tokens::Tokens;

/// Persistence for a [`crate::Session`]'s tokens. Called after login and every refresh
/// (`save`), at logout or when the server refuses the refresh token (`clear`), and before
/// a refresh (`load`), so that processes sharing one store adopt each other's rotations.
pub trait TokenStore: Send + Sync + fmt::Debug {
    fn load(&self) -> Result<Option<Tokens>, StorageError>;
    fn save(&self, tokens: &Tokens) -> Result<(), StorageError>;
    fn clear(&self) -> Result<(), StorageError>;
}

/// Tokens held only in this process.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<Option<Tokens>>);

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl TokenStore for MemoryStore {
    fn load(&self) -> Result<Option<Tokens>, StorageError> {
        Ok(self.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    fn save(&self, tokens: &Tokens) -> Result<(), StorageError> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokens.clone());
        Ok(())
    }

    fn clear(&self) -> Result<(), StorageError> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}

/// Tokens in one JSON file. The file is created with mode 0600 (its directory 0700): a
/// refresh token is a long-lived credential. Writes go to a temporary file in the same
/// directory that is then renamed over the old one, so a crash or a concurrent reader
/// sees the old tokens or the new ones, never half of each.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        FileStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
        move |source| StorageError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }
}

impl TokenStore for FileStore {
    fn load(&self) -> Result<Option<Tokens>, StorageError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(self.io("read")(err)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|err| StorageError::Corrupt {
                path: self.path.clone(),
                reason: err.to_string(),
            })
    }

    fn save(&self, tokens: &Tokens) -> Result<(), StorageError> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        create_private_dir(dir).map_err(self.io("create the directory of"))?;
        let json = serde_json::to_vec_pretty(tokens).map_err(|err| StorageError::Corrupt {
            path: self.path.clone(),
            reason: err.to_string(),
        })?;
        let file_name = self
            .path
            .file_name()
            .map_or_else(|| "tokens".into(), |name| name.to_string_lossy());
        let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let written = write_private(&temp, &json).and_then(|()| fs::rename(&temp, &self.path));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written.map_err(self.io("write"))
    }

    fn clear(&self) -> Result<(), StorageError> {
        match fs::remove_file(&self.path) {
            Err(err) if err.kind() != ErrorKind::NotFound => Err(self.io("remove")(err)),
            _ => Ok(()),
        }
    }
}

/// Writes a new file readable by its owner only, and flushes it to disk before the rename
/// that publishes it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file: File = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(access: &str) -> Tokens {
        Tokens {
            access_token: access.to_owned(),
            refresh_token: "sid.secret".to_owned(),
            expires_at: 2_000,
            refresh_at: 1_900,
            session_id: "sid".to_owned(),
            auth_url: "http://127.0.0.1:8081".to_owned(),
            username: Some("alice".to_owned()),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tessera-client-store-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn file_round_trip_replaces_atomically_and_clears() {
        let dir = temp_dir("round-trip");
        let store = FileStore::new(dir.join("profiles").join("default.json"));
        assert!(store.load().unwrap().is_none(), "no file yet: no tokens");

        store.save(&sample("first")).unwrap();
        store.save(&sample("second")).unwrap();
        assert_eq!(store.load().unwrap().unwrap().access_token, "second");
        let leftovers: Vec<_> = fs::read_dir(dir.join("profiles"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            ["default.json"],
            "no temporary file is left behind"
        );

        store.clear().unwrap();
        assert!(store.load().unwrap().is_none());
        store.clear().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn token_file_and_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("private");
        let store = FileStore::new(dir.join("default.json"));
        store.save(&sample("a")).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(&dir), 0o700);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_the_file() {
        let dir = temp_dir("corrupt");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("default.json");
        fs::write(&path, "{not json").unwrap();
        let err = FileStore::new(&path).load().unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("default.json"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_never_shows_tokens() {
        let shown = format!("{:?}", sample("eyJsecret-access"));
        assert!(!shown.contains("eyJsecret-access") && !shown.contains("sid.secret"));
    }
}

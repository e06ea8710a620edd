//! Bytes in as each JSON request body of both services (the first byte picks which): never
//! a panic, and a refusal's message is the short description the services send, never the
//! body (`service_kit::http::describe_json_error`).
#![no_main]

use auth_service::routes::{AccountDeletion, Credentials, PasswordChange, RefreshBody};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use tasks_service::task::{NewTask, TaskPatch};

fn check<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match serde_json::from_slice::<T>(body) {
        Ok(value) => Some(value),
        Err(err) => {
            let (code, message) = service_kit::http::describe_json_error(&err);
            assert!(!code.is_empty());
            assert!(message.len() < 400, "{message}");
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => drop(check::<Credentials>(body)),
        1 => drop(check::<RefreshBody>(body)),
        2 => drop(check::<PasswordChange>(body)),
        3 => drop(check::<AccountDeletion>(body)),
        4 => drop(check::<NewTask>(body)),
        _ => {
            if let Some(patch) = check::<TaskPatch>(body) {
                let _ = patch.validated();
            }
        }
    }
});

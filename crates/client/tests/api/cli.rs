//! The `tessera` binary end to end against in-process services: output, exit codes,
//! profiles, and tokens that rotate between runs.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::helpers::{spawn_stack, temp_dir, Stack, ACCESS_TTL, PASSWORD};

/// The CLI pointed at `stack` (through the environment, so `--auth-url` can override
/// it), its profiles under `config`.
struct Cli<'a> {
    stack: &'a Stack,
    config: PathBuf,
}

/// What one run printed and how it exited.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Asserts success and returns stdout.
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        &self.stdout
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).expect("--json prints JSON")
    }

    /// Asserts the exit code and a one-line error naming `text`.
    fn fails(&self, code: i32, text: &str) {
        assert_eq!(
            self.code, code,
            "stdout: {} stderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(self.stderr.lines().count(), 1, "one line: {}", self.stderr);
        assert!(
            self.stderr.contains(text),
            "{:?} lacks {text:?}",
            self.stderr
        );
    }
}

impl<'a> Cli<'a> {
    fn new(stack: &'a Stack, name: &str) -> Cli<'a> {
        Cli {
            stack,
            config: temp_dir(name),
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "").await
    }

    async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env("TESSERA_AUTH_URL", &self.stack.auth_url)
            .env("TESSERA_TASKS_URL", &self.stack.tasks_url)
            .env("TESSERA_CONFIG_DIR", &self.config)
            .env_remove("TESSERA_PROFILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("the CLI finishes")
            .unwrap();
        Run::from(output)
    }

    async fn login(&self, username: &str, profile: &str) {
        self.run_with_stdin(
            &["--profile", profile, "login", username, "--password-stdin"],
            &password_line(),
        )
        .await
        .ok();
    }

    fn profile_file(&self, profile: &str) -> PathBuf {
        self.config.join(format!("{profile}.json"))
    }
}

impl Drop for Cli<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.config);
    }
}

fn password_line() -> String {
    format!("{PASSWORD}\n")
}

#[tokio::test]
async fn a_whole_session_from_register_to_logout() {
    let stack = spawn_stack(|_| {}).await;
    let cli = Cli::new(&stack, "whole");

    let out = cli
        .run_with_stdin(&["register", "alice", "--password-stdin"], &password_line())
        .await;
    assert!(
        out.ok().starts_with("registered alice (id "),
        "{}",
        out.stdout
    );
    let out = cli
        .run_with_stdin(&["login", "alice", "--password-stdin"], &password_line())
        .await;
    assert_eq!(out.ok(), "logged in as alice (profile default)\n");
    assert_private(&cli.profile_file("default"));

    let added = cli
        .run(&["--json", "tasks", "add", "write", "the", "tests"])
        .await;
    let task = added.json();
    assert_eq!(task["title"], "write the tests");
    let id = task["id"].as_str().unwrap().to_owned();

    let out = cli.run(&["tasks", "done", &id]).await;
    assert_eq!(out.ok(), format!("[x] {id}  write the tests\n"));
    let out = cli.run(&["tasks", "edit", &id, "tests", "written"]).await;
    assert_eq!(out.ok(), format!("[x] {id}  tests written\n"));
    let out = cli.run(&["tasks", "undo", &id]).await;
    assert_eq!(out.ok(), format!("[ ] {id}  tests written\n"));
    cli.run(&["tasks", "add", "second"]).await.ok();
    let listed = cli.run(&["--json", "tasks", "list", "--open"]).await.json();
    let titles: Vec<&str> = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["second", "tests written"], "newest first");
    assert_eq!(
        cli.run(&["tasks", "list", "--done"]).await.ok(),
        "no tasks\n"
    );
    let out = cli.run(&["tasks", "rm", &id]).await;
    assert_eq!(out.ok(), format!("deleted {id}\n"));

    let out = cli.run(&["whoami"]).await;
    assert!(out.ok().starts_with("alice (user id "), "{}", out.stdout);
    assert!(out.stdout.contains("role user"), "{}", out.stdout);
    let out = cli.run(&["sessions", "list"]).await;
    assert!(
        out.ok().starts_with("* "),
        "this session is marked: {}",
        out.stdout
    );

    assert_eq!(cli.run(&["logout"]).await.ok(), "logged out\n");
    assert!(
        !cli.profile_file("default").exists(),
        "logout removes the tokens"
    );
    cli.run(&["tasks", "list"]).await.fails(3, "not logged in");
    assert_eq!(cli.run(&["logout"]).await.ok(), "not logged in\n");
}

#[tokio::test]
async fn errors_are_one_line_with_the_service_code_and_a_stable_exit_code() {
    let stack = spawn_stack(|_| {}).await;
    stack.register("bob").await;
    let cli = Cli::new(&stack, "errors");

    cli.run_with_stdin(&["login", "bob", "--password-stdin"], "not the password\n")
        .await
        .fails(3, "(invalid_credentials)");
    cli.run_with_stdin(&["register", "bob", "--password-stdin"], &password_line())
        .await
        .fails(1, "(username_taken)");
    cli.run_with_stdin(&["register", "x", "--password-stdin"], &password_line())
        .await
        .fails(1, "(validation_failed)");

    cli.login("bob", "default").await;
    cli.run(&["tasks", "rm", "01936f4e-0000-7000-8000-000000000000"])
        .await
        .fails(4, "(not_found)");
    cli.run(&["tasks", "done", "../../auth/logout"])
        .await
        .fails(4, "(not_found)");
    cli.run(&["sessions", "revoke", "no-such-session"])
        .await
        .fails(4, "(not_found)");
    cli.run(&["--profile", "../etc", "whoami"])
        .await
        .fails(6, "invalid profile name");

    let json = cli.run(&["--json", "tasks", "rm", "nope"]).await;
    assert_eq!(json.code, 4);
    let body: Value = serde_json::from_str(&json.stderr).expect("--json errors are JSON");
    assert_eq!(body["error"], "not_found");

    let dead = format!("http://127.0.0.1:{}", testkit::free_port());
    let out = cli
        .run(&[
            "--auth-url",
            &dead,
            "--profile",
            "nobody",
            "logout",
            "--all",
        ])
        .await;
    assert_eq!(out.ok(), "not logged in\n");
    cli.run_with_stdin(
        &[
            "--auth-url",
            &dead,
            "--profile",
            "p2",
            "login",
            "bob",
            "--password-stdin",
        ],
        &password_line(),
    )
    .await
    .fails(5, "cannot reach");
    cli.run(&["--auth-url", &dead, "whoami"])
        .await
        .fails(6, "is logged in at");
}

#[tokio::test]
async fn profiles_keep_several_accounts_apart() {
    let stack = spawn_stack(|_| {}).await;
    stack.register("carol").await;
    stack.register("dave").await;
    let cli = Cli::new(&stack, "profiles");
    cli.login("carol", "work").await;
    cli.login("dave", "home").await;

    cli.run(&["--profile", "work", "tasks", "add", "carol's"])
        .await
        .ok();
    let home = cli
        .run(&["--profile", "home", "--json", "tasks", "list"])
        .await;
    assert_eq!(home.json()["tasks"], serde_json::json!([]));
    let whoami = cli.run(&["--profile", "work", "whoami"]).await;
    assert!(whoami.ok().starts_with("carol "), "{}", whoami.stdout);
}

#[tokio::test]
async fn tokens_refresh_between_runs_and_logout_all_ends_every_session() {
    let stack = spawn_stack(|_| {}).await;
    stack.register("erin").await;
    let cli = Cli::new(&stack, "refresh");
    cli.login("erin", "laptop").await;
    cli.login("erin", "phone").await;
    let saved = |profile| std::fs::read_to_string(cli.profile_file(profile)).unwrap();
    let before = saved("laptop");

    // The services' clock passes the access token's expiry; the next run gets a 401,
    // refreshes once, retries, and saves the rotated pair.
    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    cli.run(&["--profile", "laptop", "whoami"]).await.ok();
    assert_ne!(saved("laptop"), before, "the rotated tokens are saved");
    cli.run(&["--profile", "laptop", "whoami"]).await.ok();

    let sessions = cli
        .run(&["--profile", "laptop", "--json", "sessions", "list"])
        .await;
    assert_eq!(sessions.json()["sessions"].as_array().unwrap().len(), 2);
    let out = cli.run(&["--profile", "laptop", "logout", "--all"]).await;
    assert_eq!(out.ok(), "logged out everywhere\n");

    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    cli.run(&["--profile", "phone", "tasks", "list"])
        .await
        .fails(3, "not logged in");
}

#[tokio::test]
async fn password_change_keeps_this_session_and_ends_the_others() {
    let stack = spawn_stack(|_| {}).await;
    stack.register("fay").await;
    let cli = Cli::new(&stack, "password");
    cli.login("fay", "a").await;
    cli.login("fay", "b").await;

    let new = "a much better passphrase";
    let out = cli
        .run_with_stdin(
            &["--profile", "a", "password", "change", "--password-stdin"],
            &format!("{PASSWORD}\n{new}\n"),
        )
        .await;
    assert!(out.ok().starts_with("password changed"), "{}", out.stdout);
    cli.run(&["--profile", "a", "sessions", "list"]).await.ok();

    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    cli.run(&["--profile", "b", "whoami"])
        .await
        .fails(3, "not logged in");
    cli.run_with_stdin(&["login", "fay", "--password-stdin"], &format!("{new}\n"))
        .await
        .ok();
}

#[cfg(unix)]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}

#[cfg(not(unix))]
fn assert_private(_: &Path) {}

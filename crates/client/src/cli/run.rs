//! The commands: each builds on a [`Session`] resumed from the profile and prints either
//! a short human line or, with `--json`, the JSON of the result.

use std::io::BufRead;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use tessera_client::{Session, Task, TaskPatch, TasksClient, TokenStore};

use crate::exit::CliError;
use crate::{profile, Cli, Command, Credentials, PasswordCommand, SessionsCommand, TasksCommand};

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let store = Arc::new(profile::store(&cli.profile)?);
    let auth_url = cli.auth_url.trim_end_matches('/');
    // Tokens belong to the auth-service that issued them; using them elsewhere would only
    // produce confusing 401s.
    if let Some(tokens) = store.load()? {
        let uses_tokens = !matches!(cli.command, Command::Login(_) | Command::Register(_));
        if tokens.auth_url != auth_url && uses_tokens {
            return Err(CliError::Local(format!(
                "profile '{}' is logged in at {}; pass --auth-url {} or log in again",
                cli.profile, tokens.auth_url, tokens.auth_url
            )));
        }
    }
    let mut builder = Session::builder(auth_url).store(store);
    if let Some(file) = &cli.ca_cert {
        builder = builder.ca_cert(file);
    }
    let session = Arc::new(builder.build()?);
    let tasks = TasksClient::new(session.clone(), &cli.tasks_url);
    let out = Output { json: cli.json };

    match cli.command {
        Command::Register(credentials) => {
            let password = new_password(&credentials)?;
            let user = session.register(&credentials.username, &password).await?;
            out.show(&user, || {
                format!("registered {} (id {})", user.username, user.user_id)
            });
        }
        Command::Login(credentials) => {
            let password = read_password(credentials.password_stdin, "Password: ")?;
            session.login(&credentials.username, &password).await?;
            let username = &credentials.username;
            let profile = &cli.profile;
            out.show(&json!({ "username": username, "profile": profile }), || {
                format!("logged in as {username} (profile {profile})")
            });
        }
        Command::Whoami => {
            let me = tasks.me().await?;
            let name = session.tokens().await.and_then(|tokens| tokens.username);
            out.show(&me, || {
                format!(
                    "{} (user id {}, role {}, session {})",
                    name.as_deref().unwrap_or("?"),
                    me.sub,
                    me.role,
                    me.sid
                )
            });
        }
        Command::Tasks(command) => tasks_command(&tasks, command, out).await?,
        Command::Sessions(SessionsCommand::List) => {
            let sessions = session.sessions().await?;
            out.show(&json!({ "sessions": sessions }), || {
                if sessions.is_empty() {
                    return "no sessions".to_owned();
                }
                sessions
                    .iter()
                    .map(|s| {
                        let mark = if s.current { '*' } else { ' ' };
                        format!(
                            "{mark} {}  last used {}  {}  {}",
                            s.id, s.last_used_at, s.ip, s.user_agent
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Sessions(SessionsCommand::Revoke { id }) => {
            session.revoke_session(&id).await?;
            out.show(&json!({ "revoked": id }), || {
                format!("revoked session {id}")
            });
        }
        Command::Logout { all } => {
            if session.tokens().await.is_none() {
                out.show(&json!({ "logged_out": false }), || {
                    "not logged in".to_owned()
                });
                return Ok(());
            }
            if all {
                session.logout_all().await?;
            } else {
                session.logout().await?;
            }
            out.show(&json!({ "logged_out": true, "all": all }), || {
                if all {
                    "logged out everywhere"
                } else {
                    "logged out"
                }
                .to_owned()
            });
        }
        Command::Password(PasswordCommand::Change { password_stdin }) => {
            let (current, new) = if password_stdin {
                let mut lines = stdin_lines(2)?.into_iter();
                let current = lines.next().unwrap_or_default();
                (current, lines.next().unwrap_or_default())
            } else {
                let current = prompt("Current password: ")?;
                (current, confirmed_prompt()?)
            };
            session.change_password(&current, &new).await?;
            out.show(&json!({ "password_changed": true }), || {
                "password changed; every other session has ended".to_owned()
            });
        }
    }
    Ok(())
}

async fn tasks_command(
    tasks: &TasksClient,
    command: TasksCommand,
    out: Output,
) -> Result<(), CliError> {
    let changed = |task: Task| {
        out.show(&task, || task_line(&task));
    };
    match command {
        TasksCommand::List { done, open } => {
            let filter = (done || open).then_some(done);
            let list = tasks.list_all(filter).await?;
            out.show(&json!({ "tasks": list }), || {
                if list.is_empty() {
                    "no tasks".to_owned()
                } else {
                    list.iter().map(task_line).collect::<Vec<_>>().join("\n")
                }
            });
        }
        TasksCommand::Add { title } => changed(tasks.add(&title.join(" ")).await?),
        TasksCommand::Done { id } => changed(set_done(tasks, &id, true).await?),
        TasksCommand::Undo { id } => changed(set_done(tasks, &id, false).await?),
        TasksCommand::Edit { id, title } => {
            let patch = TaskPatch {
                title: Some(title.join(" ")),
                done: None,
            };
            changed(tasks.update(&id, &patch).await?);
        }
        TasksCommand::Rm { id } => {
            tasks.delete(&id).await?;
            out.show(&json!({ "deleted": id }), || format!("deleted {id}"));
        }
    }
    Ok(())
}

async fn set_done(tasks: &TasksClient, id: &str, done: bool) -> Result<Task, CliError> {
    let patch = TaskPatch {
        title: None,
        done: Some(done),
    };
    Ok(tasks.update(id, &patch).await?)
}

fn task_line(task: &Task) -> String {
    let mark = if task.done { 'x' } else { ' ' };
    format!("[{mark}] {}  {}", task.id, task.title)
}

/// Where results go: a human line, or the result as JSON.
#[derive(Clone, Copy)]
struct Output {
    json: bool,
}

impl Output {
    fn show<T: Serialize>(self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            match serde_json::to_string(value) {
                Ok(text) => println!("{text}"),
                Err(err) => eprintln!("tessera: cannot print the result as JSON: {err}"),
            }
        } else {
            println!("{}", human());
        }
    }
}

/// The password of `login`: prompted without echo, or the first line of stdin.
fn read_password(from_stdin: bool, label: &str) -> Result<String, CliError> {
    if from_stdin {
        Ok(stdin_lines(1)?.pop().unwrap_or_default())
    } else {
        prompt(label)
    }
}

/// The password of `register`: typed twice when prompted.
fn new_password(credentials: &Credentials) -> Result<String, CliError> {
    if credentials.password_stdin {
        read_password(true, "")
    } else {
        confirmed_prompt()
    }
}

fn confirmed_prompt() -> Result<String, CliError> {
    let first = prompt("New password: ")?;
    if prompt("Repeat it: ")? != first {
        return Err(CliError::Local("the passwords do not match".to_owned()));
    }
    Ok(first)
}

fn prompt(label: &str) -> Result<String, CliError> {
    rpassword::prompt_password(label).map_err(|err| {
        CliError::Local(format!(
            "cannot read a password from the terminal ({err}); use --password-stdin"
        ))
    })
}

/// The first `count` lines of stdin, without their line endings (nothing else is
/// trimmed: spaces may be part of a password).
fn stdin_lines(count: usize) -> Result<Vec<String>, CliError> {
    let stdin = std::io::stdin();
    let mut lines = Vec::with_capacity(count);
    for line in stdin.lock().lines().take(count) {
        let line = line.map_err(|err| CliError::Local(format!("cannot read stdin: {err}")))?;
        lines.push(line.trim_end_matches('\r').to_owned());
    }
    if lines.len() < count {
        return Err(CliError::Local(format!(
            "expected {count} line(s) on standard input"
        )));
    }
    Ok(lines)
}

//! Typed calls: the account endpoints of the auth-service (on [`Session`]) and the
//! tasks-service API ([`TasksClient`]). Response types mirror the README's API tables.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::ClientError;
use crate::session::Session;
use crate::wire::{empty_body, json_body, send};

/// `POST /auth/register` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegisteredUser {
    pub user_id: String,
    pub username: String,
}

/// One of the caller's sessions (`GET /auth/sessions`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub user_agent: String,
    pub ip: String,
    /// The session the request came from.
    pub current: bool,
}

#[derive(Deserialize)]
struct SessionList {
    sessions: Vec<SessionInfo>,
}

/// The verified caller (`GET /me` on the tasks-service).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Me {
    pub sub: String,
    pub role: String,
    pub sid: String,
    pub scope: Option<String>,
    pub exp: u64,
}

/// A task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub done: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// One page of `GET /tasks`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub next_cursor: Option<String>,
}

/// `PATCH /tasks/{id}`: the fields to change.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TaskPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
}

impl Session {
    /// Creates an account (no session needed; it does not log in).
    pub async fn register(
        &self,
        username: &str,
        password: &str,
    ) -> Result<RegisteredUser, ClientError> {
        let url = format!("{}/auth/register", self.auth_url());
        let body = json!({ "username": username, "password": password });
        json_body(
            send(self.http().post(url).json(&body)).await?,
            StatusCode::CREATED,
        )
        .await
    }

    /// The caller's live sessions.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, ClientError> {
        let url = format!("{}/auth/sessions", self.auth_url());
        let response = self.request(|http| http.get(&url)).await?;
        Ok(json_body::<SessionList>(response, StatusCode::OK)
            .await?
            .sessions)
    }

    /// Ends one of the caller's sessions (404 `not_found` for an unknown id).
    pub async fn revoke_session(&self, id: &str) -> Result<(), ClientError> {
        let url = format!("{}/auth/sessions/{}", self.auth_url(), path_segment(id));
        empty_body(self.request(|http| http.delete(&url)).await?).await
    }

    /// Ends every session of the user, this one included, and forgets the tokens.
    pub async fn logout_all(&self) -> Result<(), ClientError> {
        let url = format!("{}/auth/logout-all", self.auth_url());
        empty_body(self.request(|http| http.post(&url)).await?).await?;
        self.forget().await
    }

    /// Changes the password. The service ends every other session and bumps the token
    /// version, so this session's current access token stops being accepted by the
    /// auth-service: the session refreshes on its next call, which keeps it logged in.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), ClientError> {
        let url = format!("{}/auth/password", self.auth_url());
        let body = json!({ "current_password": current, "new_password": new });
        empty_body(self.request(|http| http.post(&url).json(&body)).await?).await
    }
}

/// The tasks-service API, called with a [`Session`]'s tokens.
#[derive(Debug, Clone)]
pub struct TasksClient {
    session: Arc<Session>,
    base: String,
}

impl TasksClient {
    /// A client of the tasks-service at `tasks_url`.
    pub fn new(session: Arc<Session>, tasks_url: &str) -> TasksClient {
        TasksClient {
            session,
            base: tasks_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The session behind this client.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// Who the tasks-service says the caller is.
    pub async fn me(&self) -> Result<Me, ClientError> {
        let url = format!("{}/me", self.base);
        json_body(
            self.session.request(|http| http.get(&url)).await?,
            StatusCode::OK,
        )
        .await
    }

    /// One page of the caller's tasks, newest first.
    pub async fn list_page(
        &self,
        done: Option<bool>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<TaskPage, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(done) = done {
            query.push(("done", done.to_string()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_owned()));
        }
        let url = reqwest::Url::parse_with_params(&format!("{}/tasks", self.base), &query)
            .map_err(|err| ClientError::Protocol {
                url: self.base.clone(),
                detail: format!("not a valid URL: {err}"),
            })?;
        json_body(
            self.session.request(|http| http.get(url.clone())).await?,
            StatusCode::OK,
        )
        .await
    }

    /// Every task of the caller (following the pages), newest first.
    pub async fn list_all(&self, done: Option<bool>) -> Result<Vec<Task>, ClientError> {
        let mut tasks = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_page(done, Some(100), cursor.as_deref()).await?;
            tasks.extend(page.tasks);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(tasks),
            }
        }
    }

    pub async fn add(&self, title: &str) -> Result<Task, ClientError> {
        let url = format!("{}/tasks", self.base);
        let body = json!({ "title": title });
        json_body(
            self.session
                .request(|http| http.post(&url).json(&body))
                .await?,
            StatusCode::CREATED,
        )
        .await
    }

    pub async fn get(&self, id: &str) -> Result<Task, ClientError> {
        json_body(
            self.task_request(Method::GET, id, None).await?,
            StatusCode::OK,
        )
        .await
    }

    pub async fn update(&self, id: &str, patch: &TaskPatch) -> Result<Task, ClientError> {
        let body = serde_json::to_value(patch).map_err(|err| ClientError::Protocol {
            url: self.base.clone(),
            detail: err.to_string(),
        })?;
        let response = self.task_request(Method::PATCH, id, Some(body)).await?;
        json_body(response, StatusCode::OK).await
    }

    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        empty_body(self.task_request(Method::DELETE, id, None).await?).await
    }

    async fn task_request(
        &self,
        method: Method,
        id: &str,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}/tasks/{}", self.base, path_segment(id));
        self.session
            .request(|http| {
                let request = http.request(method.clone(), &url);
                match &body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await
    }
}

/// An id as one path segment: everything but letters, digits, `-`, `_` and `~` is
/// percent-encoded (dots too, or `..` would be resolved away), so an id typed by a user can
/// never reach another route.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::path_segment;

    #[test]
    fn path_segments_cannot_escape_their_route() {
        assert_eq!(path_segment("0192-ab_cd~"), "0192-ab_cd~");
        assert_eq!(path_segment("../admin?x=1"), "%2E%2E%2Fadmin%3Fx%3D1");
    }
}

//! The task model and the validation of everything a client may send about tasks.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Input that breaks a task rule; the message says which (never echoing the value).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(String);

impl Invalid {
    fn new(message: impl Into<String>) -> Invalid {
        Invalid(message.into())
    }
}

/// Longest title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;
/// A title in the API document: 1–200 characters, no control characters, something
/// besides white space ([`valid_title`] decides).
fn title_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_TITLE_CHARS))
        .pattern(Some(TITLE_PATTERN))
        .build()
}

const TITLE_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$";
/// Page size when the client names none.
pub const DEFAULT_PAGE: usize = 50;
/// Largest page a client may ask for.
pub const MAX_PAGE: usize = 100;

/// A task as stored and as returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    /// UUIDv7: ids sort by creation time, so "newest first" is "largest id first".
    #[schema(format = "uuid")]
    pub id: String,
    pub title: String,
    pub done: bool,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl Task {
    /// A new, not-done task with a fresh time-ordered id.
    pub fn new(title: String) -> Task {
        let now = now_rfc3339();
        Task {
            id: Uuid::now_v7().to_string(),
            title,
            done: false,
            created_at: now.clone(),
            updated_at: now,
        }
    }
}

/// The current time, RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// `POST /tasks` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// Trimmed; then 1–200 characters, no control characters.
    #[schema(schema_with = title_schema)]
    pub title: String,
}

/// `PATCH /tasks/{id}` body: at least one field.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct TaskPatch {
    /// As in `POST /tasks`.
    #[schema(required = false, schema_with = title_schema)]
    pub title: Option<String>,
    #[schema(required = false)]
    pub done: Option<bool>,
}

impl TaskPatch {
    /// The patch with its title validated and trimmed; refuses an empty patch.
    pub fn validated(self) -> Result<TaskPatch, Invalid> {
        if self.title.is_none() && self.done.is_none() {
            return Err(Invalid::new(
                "nothing to change: send `title` and/or `done`",
            ));
        }
        Ok(TaskPatch {
            title: self.title.as_deref().map(valid_title).transpose()?,
            done: self.done,
        })
    }
}

/// A title trimmed, 1–200 characters, without control characters.
pub fn valid_title(title: &str) -> Result<String, Invalid> {
    let title = title.trim();
    let chars = title.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS {
        return Err(Invalid::new(format!(
            "title must be 1 to {MAX_TITLE_CHARS} characters after trimming"
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(Invalid::new("title must not contain control characters"));
    }
    Ok(title.to_owned())
}

/// Whether `id` is a well-formed task id; anything else cannot name a task.
pub fn is_task_id(id: &str) -> bool {
    id.len() == 36 && Uuid::try_parse(id).is_ok()
}

/// `?done=&limit=&cursor=` of the list endpoints.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only done (`true`) or open (`false`) tasks.
    pub done: Option<bool>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub cursor: Option<String>,
}

/// A validated listing request: at most `limit` tasks older than `after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListFilter {
    pub done: Option<bool>,
    pub limit: usize,
    /// The id of the last task of the previous page.
    pub after: Option<String>,
}

impl ListQuery {
    /// Checks the limit (1–100) and the cursor (a task id).
    pub fn validated(self) -> Result<ListFilter, Invalid> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Invalid::new(format!("limit must be 1 to {MAX_PAGE}")));
        }
        if let Some(cursor) = &self.cursor {
            if !is_task_id(cursor) {
                return Err(Invalid::new("cursor is not one this service issued"));
            }
        }
        Ok(ListFilter {
            done: self.done,
            limit,
            after: self.cursor,
        })
    }
}

/// One page of tasks, newest first.
#[derive(Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub tasks: Vec<Task>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl Page {
    /// Builds a page from up to `limit + 1` matching tasks, newest first: the extra one
    /// only says whether another page exists.
    pub fn from_overfetch(mut tasks: Vec<Task>, limit: usize) -> Page {
        let more = tasks.len() > limit;
        tasks.truncate(limit);
        let next_cursor = if more {
            tasks.last().map(|task| task.id.clone())
        } else {
            None
        };
        Page { tasks, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(valid_title("  milk \n").unwrap(), "milk");
        assert!(valid_title("   ").is_err());
        assert!(valid_title(&"é".repeat(200)).is_ok());
        assert!(valid_title(&"é".repeat(201)).is_err());
        assert!(valid_title("a\u{0}b").is_err());
    }

    #[test]
    fn new_task_ids_sort_by_creation() {
        let first = Task::new("a".into());
        let second = Task::new("b".into());
        assert!(second.id > first.id);
        assert!(is_task_id(&first.id));
        assert!(!is_task_id("../../etc"));
    }

    #[test]
    fn list_query_bounds() {
        let ok = ListQuery::default().validated().unwrap();
        assert_eq!(ok.limit, DEFAULT_PAGE);
        for limit in [0, MAX_PAGE + 1] {
            let query = ListQuery {
                limit: Some(limit),
                ..ListQuery::default()
            };
            assert!(query.validated().is_err());
        }
        let query = ListQuery {
            cursor: Some("nope".into()),
            ..ListQuery::default()
        };
        assert!(query.validated().is_err());
    }

    #[test]
    fn empty_patch_is_refused() {
        let patch = TaskPatch {
            title: None,
            done: None,
        };
        assert!(patch.validated().is_err());
    }
}

//! A write that follows a password check happens only if the check still holds: a login,
//! password change or account deletion held between its check and its write (by
//! `HeldStore`) while the password changes or every session ends loses, creates nothing
//! and changes nothing — on both stores, deterministically.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use auth_core::ManualClock;
use auth_service::store::AuthStore;
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::held_store::{HeldStore, Hold, Write};
use crate::helpers::{
    assert_error, json_ok, spawn_wrapped, token, Backend, TestApp, BACKENDS, PASSWORD,
};

const NEW_PASSWORD: &str = "a brand new passphrase";
/// How long a request may take to reach the held write: a bound on a hang, not a timing.
const REACH: Duration = Duration::from_secs(10);

struct Raced {
    app: TestApp,
    hold: Arc<Hold>,
    /// The store under the hold, for looking at what is left.
    store: Arc<dyn AuthStore>,
}

async fn spawn_held(backend: Backend) -> Raced {
    let store = backend.start();
    let hold = Arc::new(Hold::default());
    let mut inner = None;
    let mut app = spawn_wrapped(
        None,
        ManualClock::starting_now(),
        |settings| store.apply(&mut settings.redis),
        |store| {
            inner = Some(store.clone());
            Arc::new(HeldStore {
                inner: store,
                hold: hold.clone(),
            })
        },
    )
    .await;
    app.redis = store.server;
    Raced {
        app,
        hold,
        store: inner.unwrap(),
    }
}

/// An app on `backend` where alice is registered and logged in `sessions` times; the
/// sessions' access tokens.
async fn alice_on(backend: Backend, sessions: usize) -> (Raced, Vec<String>) {
    let raced = spawn_held(backend).await;
    raced.app.register("alice").await;
    let mut tokens = Vec::new();
    for _ in 0..sessions {
        tokens.push(access(&raced.app.login("alice").await));
    }
    (raced, tokens)
}

impl Raced {
    /// Lets the held request go on; asserts it was refused 401 with `code`.
    async fn refused(&self, racing: tokio::task::JoinHandle<Response>, code: &str) {
        self.hold.release();
        assert_error(racing.await.unwrap(), StatusCode::UNAUTHORIZED, code).await;
    }

    /// Asserts which password logs alice in now and how many sessions she has then (the
    /// check's own login included).
    async fn left_with(&self, password: &str, sessions: usize, backend: Backend) {
        let (now_password, now) = self.password_now().await;
        assert_eq!(now_password, password, "{backend:?}");
        assert_eq!(self.app.sessions(&now).await.len(), sessions, "{backend:?}");
    }

    /// Starts `request`, returns once it waits at `write`.
    async fn held_at(
        &self,
        write: Write,
        request: impl Future<Output = Response> + Send + 'static,
    ) -> tokio::task::JoinHandle<Response> {
        self.hold.arm(write);
        let racing = tokio::spawn(request);
        tokio::time::timeout(REACH, self.hold.arrived())
            .await
            .unwrap_or_else(|_| panic!("the request never reached {write:?}"));
        racing
    }

    fn login(&self, password: &str) -> impl Future<Output = Response> + Send + 'static {
        let request = self.app.client.post(self.app.url("/auth/login"));
        let body = json!({ "username": "alice", "password": password });
        async move { request.json(&body).send().await.unwrap() }
    }

    fn change_password(&self, access: &str) -> impl Future<Output = Response> + Send + 'static {
        let request = self.app.client.post(self.app.url("/auth/password"));
        let request = request.bearer_auth(access).json(&json!({
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
        }));
        async move { request.send().await.unwrap() }
    }

    fn delete_account(&self, access: &str) -> impl Future<Output = Response> + Send + 'static {
        let request = self.app.client.delete(self.app.url("/auth/account"));
        let request = request
            .bearer_auth(access)
            .json(&json!({ "password": PASSWORD }));
        async move { request.send().await.unwrap() }
    }

    /// Changes alice's password to [`NEW_PASSWORD`] with `access`, asserting 204.
    async fn password_changed(&self, access: &str) {
        let changed = self.change_password(access).await;
        assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    }

    async fn logout_all(&self, access: &str) {
        let response = self
            .app
            .post_bearer("/auth/logout-all", access, &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// Which password logs alice in now, and the access token of that login (each
    /// attempt that succeeds adds a session).
    async fn password_now(&self) -> (&'static str, String) {
        let old = self.app.login_response("alice", PASSWORD).await;
        let new = self.app.login_response("alice", NEW_PASSWORD).await;
        match (old.status(), new.status()) {
            (StatusCode::OK, StatusCode::UNAUTHORIZED) => (PASSWORD, access(&json_ok(old).await)),
            (StatusCode::UNAUTHORIZED, StatusCode::OK) => {
                (NEW_PASSWORD, access(&json_ok(new).await))
            }
            other => panic!("old and new password: {other:?}"),
        }
    }
}

fn access(body: &serde_json::Value) -> String {
    token(body, "access_token").to_owned()
}

#[tokio::test]
async fn a_login_racing_a_password_change_creates_no_session() {
    for backend in BACKENDS {
        let (raced, mine) = alice_on(backend, 1).await;
        let mine = &mine[0];

        let racing = raced
            .held_at(Write::CreateSession, raced.login(PASSWORD))
            .await;
        raced.password_changed(mine).await;
        raced.refused(racing, "invalid_credentials").await;

        // The changer's own session and the check's login: nothing from the race.
        raced.left_with(NEW_PASSWORD, 2, backend).await;
    }
}

#[tokio::test]
async fn a_login_racing_logout_everywhere_creates_no_session() {
    for backend in BACKENDS {
        let (raced, mine) = alice_on(backend, 1).await;
        let mine = &mine[0];

        let racing = raced
            .held_at(Write::CreateSession, raced.login(PASSWORD))
            .await;
        raced.logout_all(mine).await;
        raced.refused(racing, "invalid_credentials").await;

        raced.left_with(PASSWORD, 1, backend).await;
    }
}

#[tokio::test]
async fn an_oauth_password_grant_racing_a_password_change_issues_nothing() {
    for backend in BACKENDS {
        let (raced, mine) = alice_on(backend, 1).await;
        let mine = &mine[0];

        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "password"),
                ("client_id", "tessera-cli"),
                ("username", "alice"),
                ("password", PASSWORD),
            ])
            .finish();
        let grant = raced
            .app
            .client
            .post(raced.app.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let racing = raced
            .held_at(
                Write::CreateSession,
                async move { grant.send().await.unwrap() },
            )
            .await;
        raced.password_changed(mine).await;
        raced.hold.release();
        let refused = racing.await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{backend:?}");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{backend:?}");
        raced.left_with(NEW_PASSWORD, 2, backend).await;
    }
}

#[tokio::test]
async fn a_password_change_racing_logout_everywhere_changes_nothing() {
    for backend in BACKENDS {
        let (raced, tokens) = alice_on(backend, 2).await;
        let (thief, owner) = (&tokens[0], &tokens[1]);

        let racing = raced
            .held_at(Write::SetPassword, raced.change_password(thief))
            .await;
        raced.logout_all(owner).await;
        raced.refused(racing, "invalid_token").await;

        // Only the check's login: logout-all ended the thief's session too.
        raced.left_with(PASSWORD, 1, backend).await;
    }
}

#[tokio::test]
async fn an_account_deletion_racing_a_password_change_deletes_nothing() {
    for backend in BACKENDS {
        let (raced, tokens) = alice_on(backend, 2).await;
        let (thief, owner) = (&tokens[0], &tokens[1]);

        let racing = raced
            .held_at(Write::DeleteUser, raced.delete_account(thief))
            .await;
        raced.password_changed(owner).await;
        raced.refused(racing, "invalid_token").await;

        // The account is still there: the owner's session and the check's login; the
        // change ended the thief's.
        raced.left_with(NEW_PASSWORD, 2, backend).await;
        assert_eq!(
            raced.store.pending_purges().await.unwrap(),
            0,
            "{backend:?}: no purge left recorded for a live account"
        );
    }
}

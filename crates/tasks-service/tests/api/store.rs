//! One behavioural suite, run against both store implementations directly.

use std::sync::Arc;

use service_kit::redis::RedisConn;
use tasks_service::store::{
    MemoryTaskStore, RedisTaskStore, StoreError, TaskStore, MAX_TASKS_PER_USER,
};
use tasks_service::task::{ListFilter, Task, TaskPatch};
use testkit::RedisServer;

fn filter(limit: usize) -> ListFilter {
    ListFilter {
        done: None,
        limit,
        after: None,
    }
}

async fn behaves_like_a_task_store(store: Arc<dyn TaskStore>) {
    store.ping().await.unwrap();
    let a = Task::new("first".into());
    let b = Task::new("second".into());
    store.create("alice", &a).await.unwrap();
    store.create("alice", &b).await.unwrap();

    assert_eq!(store.get("alice", &a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.get("bob", &a.id).await.unwrap(),
        None,
        "owners are separate"
    );

    let page = store.list("alice", &filter(10)).await.unwrap();
    assert_eq!(page.tasks, vec![b.clone(), a.clone()], "newest first");
    assert_eq!(page.next_cursor, None);
    let page = store.list("alice", &filter(1)).await.unwrap();
    assert_eq!(
        (page.tasks.len(), page.next_cursor.as_deref()),
        (1, Some(b.id.as_str()))
    );
    let rest = ListFilter {
        after: page.next_cursor,
        ..filter(1)
    };
    assert_eq!(
        store.list("alice", &rest).await.unwrap().tasks,
        vec![a.clone()]
    );

    let patch = TaskPatch {
        title: Some("renamed".into()),
        done: Some(true),
    };
    let updated = store
        .update("alice", &a.id, &patch, "2030-01-01T00:00:00.000Z")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((updated.title.as_str(), updated.done), ("renamed", true));
    assert_eq!(updated.created_at, a.created_at);
    assert_eq!(updated.updated_at, "2030-01-01T00:00:00.000Z");
    assert_eq!(
        store.get("alice", &a.id).await.unwrap(),
        Some(updated.clone())
    );
    assert_eq!(store.update("bob", &a.id, &patch, "x").await.unwrap(), None);
    let done_only = ListFilter {
        done: Some(true),
        ..filter(10)
    };
    assert_eq!(
        store.list("alice", &done_only).await.unwrap().tasks,
        vec![updated]
    );

    assert!(!store.delete("bob", &a.id).await.unwrap());
    assert!(store.delete("alice", &a.id).await.unwrap());
    assert!(!store.delete("alice", &a.id).await.unwrap());
    assert_eq!(
        store.list("alice", &filter(10)).await.unwrap().tasks,
        vec![b.clone()]
    );

    let other = Task::new("bob's".into());
    store.create("bob", &other).await.unwrap();
    assert_eq!(store.purge("alice").await.unwrap(), 1);
    assert_eq!(store.purge("alice").await.unwrap(), 0, "idempotent");
    assert!(store
        .list("alice", &filter(10))
        .await
        .unwrap()
        .tasks
        .is_empty());
    assert_eq!(store.get("alice", &b.id).await.unwrap(), None);
    assert_eq!(
        store.list("bob", &filter(10)).await.unwrap().tasks,
        vec![other],
        "only the purged owner's tasks go"
    );
    store.create("alice", &b).await.unwrap();
    assert_eq!(
        store.list("alice", &filter(10)).await.unwrap().tasks.len(),
        1,
        "a purged owner starts afresh"
    );
}

/// Concurrent creations near the limit: exactly the remaining room succeeds.
async fn enforces_the_limit_under_concurrency(store: Arc<dyn TaskStore>) {
    for i in 0..MAX_TASKS_PER_USER - 5 {
        store
            .create("carol", &Task::new(format!("t{i}")))
            .await
            .unwrap();
    }
    let attempts = (0..20).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.create("carol", &Task::new(format!("race {i}"))).await })
    });
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::TaskLimit) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 5);
    let page = store.list("carol", &filter(100)).await.unwrap();
    assert_eq!(page.tasks.len(), 100);
}

#[tokio::test]
async fn memory_store_behaves() {
    behaves_like_a_task_store(Arc::new(MemoryTaskStore::new())).await;
    enforces_the_limit_under_concurrency(Arc::new(MemoryTaskStore::new())).await;
}

#[tokio::test]
async fn redis_store_behaves() {
    let redis = RedisServer::start();
    let store = |prefix: &str| {
        Arc::new(RedisTaskStore::new(
            RedisConn::open(&redis.url()).unwrap(),
            prefix,
        ))
    };
    behaves_like_a_task_store(store("a:")).await;
    enforces_the_limit_under_concurrency(store("b:")).await;
}

#[tokio::test]
async fn redis_keys_share_one_hash_tag_per_user() {
    let redis = RedisServer::start();
    let conn = RedisConn::open(&redis.url()).unwrap();
    let store = RedisTaskStore::new(RedisConn::open(&redis.url()).unwrap(), "tessera:");
    store.create("u-1", &Task::new("x".into())).await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn.connection().await.unwrap())
        .await
        .unwrap();
    keys.sort();
    assert_eq!(
        keys,
        ["tessera:{u:u-1}:tasks", "tessera:{u:u-1}:tasks:order"]
    );
}

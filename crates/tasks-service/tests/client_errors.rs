//! A client sending malformed requests cannot write ERROR lines at will: actix's codec
//! errors are counted into at most one INFO line per minute. A test binary of its own,
//! because the log subscriber is process-global.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
use service_kit::telemetry::{init_with_writer, LogFormat, LogSettings};
use testkit::capture::Capture;

#[tokio::test]
async fn malformed_requests_are_one_info_line_not_an_error_each() {
    let capture = Capture::default();
    let writer = capture.clone();
    let log = LogSettings {
        format: LogFormat::Json,
        level: "info".to_owned(),
        ..LogSettings::default()
    };
    init_with_writer(&log, move || writer.clone());
    let settings = tasks_service::Settings {
        listen: "127.0.0.1:0".to_owned(),
        workers: 1,
        dev: true,
        ..tasks_service::Settings::default()
    };
    let app = tasks_service::Application::build(settings).await.unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let authority = testkit::raw::authority(&url).to_owned();

    let malformed: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ];
    for round in 0..30 {
        let request = malformed[round % malformed.len()];
        let answer = tokio::task::spawn_blocking({
            let authority = authority.clone();
            move || testkit::raw::exchange(&authority, request, Duration::from_secs(5))
        })
        .await
        .unwrap();
        assert_eq!(answer.status(), Some(400), "round {round}");
    }
    let healthz = testkit::http::client()
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);

    let text = capture.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let summaries: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("connections closed over client errors"))
        })
        .collect();
    assert_eq!(
        summaries.len(),
        1,
        "one line within the minute: {summaries:#?}"
    );
    assert_eq!(summaries[0]["level"], "INFO");
    assert_eq!(summaries[0]["fields"]["count"], 1, "the first at once");
    let latest = summaries[0]["fields"]["latest"].as_str().unwrap();
    assert!(latest.contains("parse error"), "{latest}");
}

//! Shiioo's alerts in Debian's Alertmanager (`prometheus-alertmanager`,
//! started by the test on free ports): an alert that fires shows in
//! Alertmanager's `/api/v2/alerts` and reaches its receiver; one that
//! resolves ends there; a silence made in Alertmanager holds back its
//! notification. `scripts/setup.sh` installs the package.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use common::{eventually, free_port, start_program, step, TestServer};
use serde_json::{json, Value};
use server::config::Config;

fn alertmanager_binary() -> PathBuf {
    ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("prometheus-alertmanager not found: scripts/setup.sh installs it")
}

/// Alertmanager's notifications, as its webhook receiver gets them.
type Received = Arc<Mutex<Vec<Value>>>;

async fn hook(State(received): State<Received>, Json(body): Json<Value>) {
    received.lock().unwrap().push(body);
}

/// The (alertname, status) of every notification received so far.
fn notified(received: &Received) -> Vec<(String, String)> {
    received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["labels"]["alertname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                a["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A real Alertmanager routing every alert, grouped by name, to a webhook
/// receiver of the test's; stopped when dropped.
struct Alertmanager {
    url: String,
    received: Received,
    http: reqwest::Client,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    async fn start() -> Self {
        let received = Received::default();
        let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook_url = format!("http://{}/hook", receiver.local_addr().unwrap());
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(received.clone());
        tokio::spawn(async move { axum::serve(receiver, app).await.unwrap() });

        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: test\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n  - name: test\n    webhook_configs:\n      - url: {hook_url:?}\n        send_resolved: true\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = start_program(
            &alertmanager_binary(),
            &[
                format!("--config.file={}", config.display()),
                format!("--storage.path={}", dir.path().join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // One instance: no gossip port.
                "--cluster.listen-address=".into(),
            ],
            dir.path(),
            &format!("{url}/-/ready"),
        )
        .await;
        Self {
            url,
            received,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            _child: child,
            _dir: dir,
        }
    }

    /// Alertmanager's alerts (`GET /api/v2/alerts`) named `name`.
    async fn alerts(&self, name: &str) -> Vec<Value> {
        let all: Value = self
            .http
            .get(format!("{}/api/v2/alerts", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .cloned()
            .collect()
    }

    /// Alertmanager's alert `name` once it is in `state`.
    async fn eventually_in_state(&self, name: &str, state: &str) -> Value {
        eventually(&format!("{name} {state} in Alertmanager"), async || {
            self.alerts(name)
                .await
                .into_iter()
                .find(|a| a["status"]["state"] == state)
        })
        .await
    }

    /// Silences alerts named `name`; returns the silence's id.
    async fn silence(&self, name: &str) -> String {
        let now = chrono::Utc::now();
        let answer: Value = self
            .http
            .post(format!("{}/api/v2/silences", self.url))
            .json(&json!({
                "matchers": [{"name": "alertname", "value": name, "isRegex": false, "isEqual": true}],
                "startsAt": now.to_rfc3339(),
                "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
                "createdBy": "shiioo test",
                "comment": "held back on purpose"
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["silenceID"]
            .as_str()
            .expect("a silence id")
            .to_string()
    }
}

/// `alert_pushes_total{outcome}` as the server reports it.
async fn pushes(server: &TestServer, outcome: &str) -> u64 {
    let (_, m) = server
        .get(&format!(
            "/api/metrics?name=alert_pushes_total&outcome={outcome}"
        ))
        .await;
    m["counters"][0]["value"]
        .as_u64()
        .expect("alert_pushes_total")
}

/// A run that waits (ten minutes) until cancelled.
fn long_job() -> Value {
    json!({"name": "Long", "execute": true, "workflow": {"steps": [
        step("wait", json!({"simulation": {"latency_ms": [600000, 600000]}}))
    ]}})
}

/// A rule that fires as soon as any run is in flight.
fn busy_rule(description: &str) -> Value {
    json!({"kind": "active_workflows", "threshold": 0, "for_secs": 0, "severity": "critical", "description": description})
}

#[tokio::test]
async fn alerts_fire_resolve_and_are_silenced_in_a_real_alertmanager() {
    let am = Alertmanager::start().await;
    let data = Arc::new(tempfile::tempdir().unwrap());
    let mut config = Config::for_tests(data.path());
    config.alertmanager_urls = vec![am.url.clone()];
    config.alertmanager_resend_secs = 1;
    config.alert_eval_ms = 50;
    let server = TestServer::start_with(config, data).await;
    for (name, description) in [
        ("busy", "Runs are in flight."),
        ("busy_silenced", "The same, silenced in Alertmanager."),
    ] {
        let (status, body) = server
            .put(&format!("/api/alerts/rules/{name}"), busy_rule(description))
            .await;
        assert!(status == 200 || status == 201, "{status} {body}");
    }
    let silence = am.silence("busy_silenced").await;

    // A run that waits until cancelled keeps both rules firing.
    let (status, created) = server.post("/api/jobs", long_job()).await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();

    let firing = am.eventually_in_state("busy", "active").await;
    assert_eq!(firing["labels"]["severity"], "critical");
    assert_eq!(firing["labels"]["source"], "shiioo");
    assert_eq!(firing["annotations"]["description"], "Runs are in flight.");
    assert!(firing["generatorURL"]
        .as_str()
        .unwrap()
        .ends_with("/alerts"));
    let silenced = am.eventually_in_state("busy_silenced", "suppressed").await;
    assert_eq!(silenced["status"]["silencedBy"], json!([silence]));

    // Alertmanager notifies its receiver of the firing alert, and not of
    // the silenced one (pushed in the same requests).
    eventually("the firing notification", async || {
        notified(&am.received)
            .contains(&("busy".into(), "firing".into()))
            .then_some(())
    })
    .await;
    // Re-sent while firing: a few resends go by.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pushes = pushes(&server, "delivered").await;
    assert!(pushes >= 3, "{pushes} pushes");
    assert!(
        !notified(&am.received)
            .iter()
            .any(|(name, _)| name == "busy_silenced"),
        "a silenced alert was notified: {:?}",
        notified(&am.received)
    );

    // Resolved: it ends in Alertmanager, and the receiver hears so.
    let (status, body) = server
        .post(&format!("/api/runs/{run_id}/cancel"), json!({}))
        .await;
    assert!(status < 300, "{status} {body}");
    eventually("busy resolved in Alertmanager", async || {
        am.alerts("busy")
            .await
            .iter()
            .all(|a| a["status"]["state"] != "active")
            .then_some(())
    })
    .await;
    eventually("the resolved notification", async || {
        notified(&am.received)
            .contains(&("busy".into(), "resolved".into()))
            .then_some(())
    })
    .await;
    assert!(!notified(&am.received)
        .iter()
        .any(|(name, _)| name == "busy_silenced"));
}

#[tokio::test]
async fn an_unreachable_alertmanager_is_counted_and_changes_nothing_else() {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let mut config = Config::for_tests(data.path());
    config.alertmanager_urls = vec![format!("http://127.0.0.1:{}", free_port())];
    config.alertmanager_resend_secs = 1;
    config.alert_eval_ms = 50;
    let server = TestServer::start_with(config, data).await;
    server
        .put("/api/alerts/rules/busy", busy_rule("Runs are in flight."))
        .await;
    let (_, created) = server.post("/api/jobs", long_job()).await;
    eventually("a failed push counted", async || {
        (pushes(&server, "failed").await >= 1).then_some(())
    })
    .await;
    let (_, alerts) = server.get("/api/alerts").await;
    assert!(
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "busy" && a["state"] == "firing"),
        "{alerts}"
    );
    let (status, _) = server
        .post(
            &format!("/api/runs/{}/cancel", created["run_id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert!(status < 300);
}

#[test]
fn the_example_configuration_passes_amtool() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/alertmanager/alertmanager.yml"
    );
    let out = std::process::Command::new("/usr/bin/amtool")
        .args(["check-config", file])
        .output()
        .expect("amtool runs: scripts/setup.sh installs prometheus-alertmanager");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

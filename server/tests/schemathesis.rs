//! Schemathesis (PyPI; `scripts/setup.sh` installs it in the test venv)
//! against a live server with tokens, from the server's own
//! `/api/openapi.json`: every operation, its examples, the coverage and
//! fuzzing phases, and the stateful phase along the document's links
//! (create a job → read it → run it → read the run → cancel it). Checks:
//! no server error, and status codes, content types, headers and bodies as
//! the document says; requests without a token refused (`ignored_auth`).
//! Zero failures; the number of cases is printed.

mod common;

use std::sync::Arc;

use common::{eventually, TestServer};
use reqwest::Method;
use serde_json::json;
use server::config::Config;

const TOKEN: &str = "admin-token-for-schemathesis";
const TOKENS: &str = r#"
[[token]]
name = "root"
role = "admin"
token = "admin-token-for-schemathesis"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_document_does_not_say() {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let tokens = data.path().join("tokens.toml");
    std::fs::write(&tokens, TOKENS).unwrap();
    let mut config = Config::for_tests(data.path());
    config.auth_tokens = Some(tokens);
    // Schemathesis checks that unauthenticated requests are refused, many
    // times over: that is its job, not a guesser's.
    config.auth_failure_burst = 1_000_000;
    let server = TestServer::start_with(config, data.clone()).await;

    // An approval waiting on `root`, so that the approval routes reach
    // their logic instead of answering 404 to every generated id.
    let job = json!({"name": "Release", "execute": true, "workflow": {
        "steps": [{"id": "sign_off", "action": {"manual_approval": {"approvers": ["root"], "quorum": "unanimous"}}}]
    }});
    let (status, created) = server
        .request(Method::POST, "/api/jobs", Some(TOKEN), Some(job))
        .await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let approval_id = eventually("the approval", async || {
        let (_, list) = server
            .request(Method::GET, "/api/approvals", Some(TOKEN), None)
            .await;
        list["approvals"]
            .as_array()?
            .iter()
            .find(|a| a["run_id"] == run_id.as_str())?["approval_id"]
            .as_str()
            .map(String::from)
    })
    .await;
    let settings = data.path().join("schemathesis.toml");
    std::fs::write(
        &settings,
        format!("[parameters]\napproval_id = \"{approval_id}\"\n"),
    )
    .unwrap();

    let python = std::env::var("SHIIOO_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = tokio::process::Command::new(&python)
        .args([
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())",
            "--config-file",
        ])
        .arg(&settings)
        .args(["run", &server.url("/api/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance,ignored_auth",
        ])
        // One worker: CPython 3.11's `ast` is not safe under Hypothesis's
        // concurrent source inspection ("AST constructor recursion depth
        // mismatch"), and one is as fast on 2 cores.
        .args(["--workers", "1", "--max-examples", "30", "--max-redirects", "0"])
        .args(["--request-timeout", "20"])
        .env("NO_COLOR", "1")
        // Its cache and reports go in the test's folder, not the checkout.
        .current_dir(data.path())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{python} does not run: {e}; scripts/setup.sh installs schemathesis in its venv"));
    let report = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "schemathesis failed:\n{report}");
    // "Test cases:\n  2211 generated, 2211 passed" (and nothing else).
    let summary = report
        .lines()
        .skip_while(|l| !l.starts_with("Test cases:"))
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string();
    let generated: u64 = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of cases in:\n{report}"));
    println!("schemathesis: {summary}");
    assert!(generated >= 1_000, "only {generated} cases:\n{report}");
    assert!(
        summary.starts_with(&format!("{generated} generated, {generated} passed")),
        "{summary}\n{report}"
    );
    for phase in ["Examples", "Coverage", "Fuzzing", "Stateful"] {
        assert!(
            report.contains(&format!("✅ {phase}")),
            "the {phase} phase did not pass:\n{report}"
        );
    }
}

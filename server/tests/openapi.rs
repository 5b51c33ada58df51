//! The API's own description, served by the binary: `/api/openapi.json`
//! and `/api/asyncapi.json` readable without a token (tools fetch them
//! first), and the browsable reference `/api/docs` complete offline — its
//! scripts and styles from the server itself, under a policy that allows
//! no other source.

mod common;

use std::sync::Arc;

use common::TestServer;
use server::config::Config;

#[tokio::test]
async fn the_documents_and_the_reference_page_are_served_without_a_token() {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let tokens = data.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        "[[token]]\nname = \"vic\"\nrole = \"viewer\"\ntoken = \"viewer-token-0123456789\"\n",
    )
    .unwrap();
    let mut config = Config::for_tests(data.path());
    config.auth_tokens = Some(tokens);
    let server = TestServer::start_with(config, data).await;

    let (status, doc) = server.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], server::VERSION);
    let (status, _) = server.get("/api/runs").await;
    assert_eq!(status, 401, "the data itself still wants a token");
    // Every example the document shows is valid by its own schema.
    let mut examples = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let bodies = [
                ("requestBody", &op["requestBody"]),
                ("200", &op["responses"]["200"]),
                ("201", &op["responses"]["201"]),
            ];
            for (place, body) in bodies {
                if let Some(example) = body["content"]["application/json"].get("example") {
                    let pointer = format!(
                        "/paths/{}/{method}/{}/content/application~1json/schema",
                        path.replace('~', "~0").replace('/', "~1"),
                        if place == "requestBody" {
                            "requestBody".to_string()
                        } else {
                            format!("responses/{place}")
                        }
                    );
                    examples.push((pointer, example.clone()));
                }
            }
        }
    }
    assert!(examples.len() >= 6, "{examples:?}");
    let found = common::schema_problems(&doc, &examples);
    assert!(found.is_empty(), "{found:#?}");

    let (status, doc) = server.get("/api/asyncapi.json").await;
    assert_eq!((status, doc["asyncapi"].as_str()), (200, Some("3.0.0")));

    let page = server
        .http
        .get(server.url("/api/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    let mut assets = 0;
    for src in html.split(['"']).filter(|s| s.starts_with("/api/docs/")) {
        let asset = server.http.get(server.url(src)).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{src}");
        let kind = asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.starts_with("text/"), "{src}: {kind}");
        assert!(asset.bytes().await.unwrap().len() > 100, "{src}");
        assets += 1;
    }
    assert_eq!(assets, 3, "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from elsewhere: {html}"
    );
    let (status, body) = server.get("/api/docs/secret.txt").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

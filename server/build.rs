//! Build script: the commit the binary is built from, for
//! `shiioo_build_info{commit}` and `shiioo --version`, so that a dashboard
//! can tell which build each node runs.
//!
//! `SHIIOO_COMMIT` wins (a packager building from a tarball sets it);
//! otherwise `git` answers, or the commit is `unknown`. Cargo reruns this
//! when HEAD moves (a checkout changes HEAD, a commit the branch it names),
//! never on other edits.
//!
//! It also points `api/docs.rs` at Swagger UI's files (see [`swagger_ui`]).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=SHIIOO_COMMIT");
    let commit = std::env::var("SHIIOO_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    let watched = ["HEAD", "packed-refs"]
        .into_iter()
        .map(str::to_string)
        .chain(branch);
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    println!("cargo:rustc-env=SHIIOO_COMMIT={commit}");
    swagger_ui();
}

/// Swagger UI's assets for `GET /api/docs`, from npm's `swagger-ui-dist`
/// (`api-docs/package.json`, installed by `scripts/setup.sh`), embedded by
/// `api/docs.rs`.
fn swagger_ui() {
    // Read when the script runs, not baked in when it is compiled: cargo
    // shares one build-script binary between checkouts of the same source
    // (a CI clone and the work tree), and each must embed its own files.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("api-docs/node_modules/swagger-ui-dist");
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("package.json").display()
    );
    if !dir.join("swagger-ui-bundle.js").exists() {
        panic!(
            "{} is missing: run scripts/setup.sh, which installs server/api-docs/ from npm \
             (or: npm ci --ignore-scripts --prefix server/api-docs)",
            dir.display()
        );
    }
    println!("cargo:rustc-env=SHIIOO_SWAGGER_UI={}", dir.display());
}

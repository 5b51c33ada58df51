//! `deploy/systemd/shiioo.service` passes `systemd-analyze verify`, with
//! the binary this build made in place of `/usr/local/bin/shiioo`.

#[test]
fn the_unit_file_verifies() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/systemd/shiioo.service"
    ))
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/shiioo serve\n"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shiioo.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/shiioo", env!("CARGO_BIN_EXE_shiioo")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs: scripts/setup.sh installs systemd");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    // Warnings go to stderr with a zero status: none about our unit.
    let ours: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("shiioo.service"))
        .collect();
    assert!(ours.is_empty(), "{ours:#?}");
}

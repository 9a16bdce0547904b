//! The source bundle CodeBuild builds from: the exported tree at the exact commit, zipped the
//! same way every time (sorted paths, the commit's time on every entry, only the executable bit
//! of the mode kept), so one commit gives one bundle and one content-addressed key, and an
//! upload is skipped when the key is already in the bucket.

use crate::cloud::types::PutCondition;
use crate::cloud::{CloudError, ObjectStore};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;

/// Where bundles go in the source bucket.
pub const PREFIX: &str = "amagent/sources/";

/// A zipped source tree and where it lives in the bucket.
pub struct Bundle {
    pub bytes: Vec<u8>,
    /// `amagent/sources/<sha256 of the zip>.zip`
    pub key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot pack the source tree for CodeBuild ({path}): {message}")]
    Pack { path: String, message: String },
    #[error("cannot upload the source bundle to s3://{bucket}/{key}: {source}")]
    Upload {
        bucket: String,
        key: String,
        #[source]
        source: CloudError,
    },
}

fn pack_error(path: &Path, e: impl std::fmt::Display) -> BundleError {
    BundleError::Pack {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Zip `dir` (an exported tree: no `.git`) with every entry stamped `committed_at`.
pub fn pack(dir: &Path, committed_at: i64) -> Result<Bundle, BundleError> {
    let stamp = zip_time(committed_at);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let entries = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .sort_by_file_name()
        .follow_links(false);
    for entry in entries {
        let entry = entry.map_err(|e| pack_error(dir, e))?;
        let path = entry.path();
        let name = path
            .strip_prefix(dir)
            .expect("walkdir stays under its root")
            .to_string_lossy()
            .replace('\\', "/");
        let meta = entry.metadata().map_err(|e| pack_error(path, e))?;
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(stamp)
            .unix_permissions(mode_of(&meta));
        let added = if entry.file_type().is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| pack_error(path, e))?;
            zip.add_symlink(name, target.to_string_lossy(), options)
        } else if entry.file_type().is_dir() {
            zip.add_directory(name, options)
        } else {
            let body = std::fs::read(path).map_err(|e| pack_error(path, e))?;
            zip.start_file(name, options)
                .and_then(|()| zip.write_all(&body).map_err(Into::into))
        };
        added.map_err(|e| pack_error(path, e))?;
    }
    let bytes = zip.finish().map_err(|e| pack_error(dir, e))?.into_inner();
    let key = format!("{PREFIX}{}.zip", hex::encode(Sha256::digest(&bytes)));
    Ok(Bundle { bytes, key })
}

/// Git keeps only "executable or not"; so does the bundle (umask and checkout differences
/// must not change the key).
#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match (meta.is_dir(), meta.permissions().mode() & 0o111 != 0) {
        (true, _) | (false, true) => 0o755,
        (false, false) => 0o644,
    }
}

#[cfg(not(unix))]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    if meta.is_dir() { 0o755 } else { 0o644 }
}

/// A zip timestamp (1980 to 2107, two-second steps) for a commit time.
fn zip_time(seconds: i64) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default();
    let year = u16::try_from(t.year()).unwrap_or(1980);
    // Each part fits its type by construction (month ≤ 12, second ≤ 60).
    zip::DateTime::from_date_and_time(
        year,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .unwrap_or_default()
}

/// Upload `bundle` unless the bucket has it. Returns whether it was uploaded.
pub async fn upload(
    store: &dyn ObjectStore,
    bucket: &str,
    bundle: &Bundle,
) -> Result<bool, BundleError> {
    let failed = |source| BundleError::Upload {
        bucket: bucket.to_string(),
        key: bundle.key.clone(),
        source,
    };
    let present = store.list(bucket, &bundle.key).await.map_err(failed)?;
    if present.contains(&bundle.key) {
        return Ok(false);
    }
    // Same key, same bytes: a concurrent upload of the same bundle changes nothing.
    store
        .put(bucket, &bundle.key, &bundle.bytes, PutCondition::Always)
        .await
        .map_err(failed)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn tree(dir: &Path) {
        std::fs::create_dir_all(dir.join("src/deep")).unwrap();
        std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.join("src/deep/app.js"), "console.log(1)\n").unwrap();
        std::fs::write(dir.join("run.sh"), "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let exec = std::fs::Permissions::from_mode(0o775);
            std::fs::set_permissions(dir.join("run.sh"), exec).unwrap();
            std::os::unix::fs::symlink("src/deep/app.js", dir.join("link.js")).unwrap();
        }
    }

    #[test]
    fn one_tree_one_key_whenever_and_however_it_was_checked_out() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(a.path());
        std::thread::sleep(std::time::Duration::from_millis(1100));
        tree(b.path());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Another umask: group-writable files must not change the bundle.
            let p = b.path().join("Dockerfile");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o664)).unwrap();
        }
        let (x, y) = (
            pack(a.path(), 1_764_662_400).unwrap(),
            pack(b.path(), 1_764_662_400).unwrap(),
        );
        assert_eq!(x.key, y.key);
        assert!(x.key.starts_with(PREFIX) && x.key.ends_with(".zip"));
        assert_ne!(
            pack(a.path(), 1_764_662_402).unwrap().key,
            x.key,
            "the commit time counts"
        );
        std::fs::write(a.path().join("src/deep/app.js"), "console.log(2)\n").unwrap();
        assert_ne!(
            pack(a.path(), 1_764_662_400).unwrap().key,
            x.key,
            "content counts"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_bundle_the_bucket_has_is_not_uploaded_again() {
        let clock = crate::clock::Clock::starting_at(crate::sandbox::epoch());
        let sim = crate::cloud::sim::Simulator::new(clock, crate::cloud::sim::FaultScript::new());
        sim.add_bucket("sources");
        let cloud = sim.cloud();
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let bundle = pack(dir.path(), 1_764_662_400).unwrap();
        assert!(
            upload(&*cloud.s3, "sources", &bundle).await.unwrap(),
            "uploaded"
        );
        assert!(
            !upload(&*cloud.s3, "sources", &bundle).await.unwrap(),
            "then found"
        );
        assert_eq!(sim.calls().get("PutObject"), Some(&1));
        let missing = upload(&*cloud.s3, "no-such-bucket", &bundle)
            .await
            .unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("s3://no-such-bucket/amagent/sources/"),
            "{missing}"
        );
    }

    #[test]
    fn the_zip_holds_the_tree_with_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let bundle = pack(dir.path(), 1_764_662_400).unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(bundle.bytes)).unwrap();
        let mut names: Vec<String> = zip.file_names().map(String::from).collect();
        names.sort();
        assert!(names.contains(&"Dockerfile".to_string()), "{names:?}");
        assert!(names.contains(&"src/deep/app.js".to_string()), "{names:?}");
        let mut body = String::new();
        zip.by_name("src/deep/app.js")
            .unwrap()
            .read_to_string(&mut body)
            .unwrap();
        assert_eq!(body, "console.log(1)\n");
        #[cfg(unix)]
        {
            let run = zip.by_name("run.sh").unwrap();
            assert_eq!(run.unix_mode().unwrap() & 0o777, 0o755);
            drop(run);
            let link = zip.by_name("link.js").unwrap();
            assert!(link.is_symlink(), "a symlink stays a link");
        }
        let modified = zip.by_name("Dockerfile").unwrap().last_modified().unwrap();
        assert_eq!(
            (modified.year(), modified.month(), modified.day()),
            (2025, 12, 2)
        );
    }
}

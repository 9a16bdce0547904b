//! Building the image: buildah (daemonless, runs inside the agent's own container) first, then
//! podman. The result is an OCI image layout on disk that the agent pushes itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::storage_lock::StorageLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuilderKind {
    Buildah,
    Podman,
}

#[derive(Clone, Debug)]
pub struct Builder {
    pub kind: BuilderKind,
    pub program: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no image builder found: install buildah (apt-get install buildah) or podman")]
    NoBuilder,
    #[error("the Dockerfile {0} does not exist in the source at this commit")]
    NoDockerfile(String),
    #[error("{program} failed (exit {code:?}); last lines of the build log:\n{tail}")]
    Failed {
        program: String,
        code: Option<i32>,
        tail: String,
    },
    #[error("cannot run {program}: {message}")]
    Spawn { program: String, message: String },
}

/// What to build.
pub struct BuildRequest<'a> {
    pub context: &'a Path,
    pub dockerfile: &'a str,
    pub args: &'a BTreeMap<String, String>,
    pub platform: &'a str,
    /// OCI labels (source, revision, created).
    pub labels: BTreeMap<String, String>,
    /// Seconds since the epoch stamped on the image and its files (the commit time), so the
    /// same commit builds to the same digest.
    pub timestamp: i64,
    /// A local name for the built image.
    pub tag: &'a str,
    /// Where to write the OCI layout.
    pub layout: &'a Path,
}

/// How many log lines are kept for reports.
const LOG_TAIL: usize = 30;

fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

impl Builder {
    /// `preference` ("buildah" or "podman") or the first found, buildah first.
    pub fn detect(preference: Option<&str>) -> Result<Builder, BuildError> {
        let candidates = match preference {
            Some("podman") => vec![("podman", BuilderKind::Podman)],
            Some("buildah") => vec![("buildah", BuilderKind::Buildah)],
            _ => vec![
                ("buildah", BuilderKind::Buildah),
                ("podman", BuilderKind::Podman),
            ],
        };
        candidates
            .into_iter()
            .find_map(|(name, kind)| find(name).map(|program| Builder { kind, program }))
            .ok_or(BuildError::NoBuilder)
    }

    fn base(&self) -> Vec<String> {
        // vfs + chroot: no kernel overlay or user namespaces needed (containers, CI).
        match self.kind {
            BuilderKind::Buildah => vec!["--storage-driver".into(), "vfs".into()],
            BuilderKind::Podman => vec!["--storage-driver".into(), "vfs".into()],
        }
    }

    /// Build, then write the image as an OCI layout. Returns the build log's last lines.
    pub async fn build(&self, req: &BuildRequest<'_>) -> Result<Vec<String>, BuildError> {
        if !req.context.join(req.dockerfile).is_file() {
            return Err(BuildError::NoDockerfile(req.dockerfile.to_string()));
        }
        let mut args = self.base();
        args.extend(match self.kind {
            BuilderKind::Buildah => vec!["bud".to_string(), "--isolation".into(), "chroot".into()],
            BuilderKind::Podman => vec!["build".to_string(), "--isolation".into(), "chroot".into()],
        });
        args.extend([
            "--format".into(),
            "oci".into(),
            "--platform".into(),
            req.platform.into(),
        ]);
        args.extend([
            "-f".into(),
            req.context.join(req.dockerfile).display().to_string(),
        ]);
        args.extend(["-t".into(), req.tag.into()]);
        args.extend(["--timestamp".into(), req.timestamp.to_string()]);
        for (k, v) in req.args {
            args.extend(["--build-arg".into(), format!("{k}={v}")]);
        }
        for (k, v) in &req.labels {
            args.extend(["--label".into(), format!("{k}={v}")]);
        }
        args.push(req.context.display().to_string());
        let storage = StorageLock::shared().await;
        let mut tail = self.run(&args).await?;
        let mut push = self.base();
        push.extend([
            "push".into(),
            req.tag.into(),
            format!("oci:{}:{}", req.layout.display(), "latest"),
        ]);
        let pushed = self.run(&push).await;
        drop(storage);
        // The layout is all we need: drop the local image so builder storage does not grow.
        // Not `--force`: a concurrent build of identical content shares the image, and forcing
        // would pull its layers from under it ("layer not known"); then this only untags.
        let mut remove = self.base();
        remove.extend(["rmi".into(), req.tag.into()]);
        let alone = StorageLock::exclusive().await;
        let removed = self.run(&remove).await;
        drop(alone);
        if let Err(e) = removed {
            tracing::warn!(error = %e, "could not remove the local build image");
        }
        tail.extend(pushed?);
        let skip = tail.len().saturating_sub(LOG_TAIL);
        Ok(tail.split_off(skip))
    }

    /// Run the builder, streaming its output to tracing, keeping the tail.
    async fn run(&self, args: &[String]) -> Result<Vec<String>, BuildError> {
        let program = self.program.display().to_string();
        tracing::debug!(%program, ?args, "running the image builder");
        let mut child = tokio::process::Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BuildError::Spawn {
                program: program.clone(),
                message: e.to_string(),
            })?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (out, err) = tokio::join!(drain(stdout), drain(stderr));
        let status = child.wait().await.map_err(|e| BuildError::Spawn {
            program: program.clone(),
            message: e.to_string(),
        })?;
        let mut log = out;
        log.extend(err);
        if !status.success() {
            let skip = log.len().saturating_sub(LOG_TAIL);
            return Err(BuildError::Failed {
                program,
                code: status.code(),
                tail: log[skip..].join("\n"),
            });
        }
        Ok(log)
    }
}

/// Every line of `reader`, logged as it comes. Bytes that are not UTF-8 are replaced, never a
/// reason to stop reading (a closed pipe would kill the builder).
async fn drain<R: tokio::io::AsyncRead + Unpin>(reader: R) -> Vec<String> {
    let mut reader = BufReader::new(reader);
    let mut kept = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                tracing::info!(target: "amagent::build", "{line}");
                kept.push(line);
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the builder's output");
                break;
            }
        }
    }
    kept
}

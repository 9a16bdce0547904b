//! `amagent demo`: starts what the demo needs (a local registry; buildah must be installed),
//! runs [`crate::demo`] on virtual time, and prints the acts, a summary table and the PR
//! comments as GitHub would show them.

use super::progress::ConsoleProgress;
use super::sim_cmd::runtime;
use super::{Exit, OutputFormat, print_error, print_json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `docker-registry` (CNCF distribution) on a free loopback port, stopped on drop.
struct LocalRegistry {
    child: Child,
    port: u16,
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/usr/bin"])
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

fn start_registry(dir: &Path) -> Result<LocalRegistry, String> {
    let program = find("docker-registry").ok_or(
        "the demo pushes real images to a local registry: install it with \
         `apt-get install docker-registry` (or run scripts/demo, which does)",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("registry").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = Command::new(program)
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start docker-registry: {e}"))?;
    let registry = LocalRegistry { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("docker-registry did not start within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(registry)
}

pub fn run(keep: Option<&Path>, output: OutputFormat) -> Exit {
    if find("buildah").is_none() && find("podman").is_none() {
        print_error(
            output,
            "usage",
            "the demo builds real images: install buildah (`apt-get install buildah`), or run \
             scripts/demo, which installs what it needs",
        );
        return Exit::Usage;
    }
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            print_error(output, "io", &e.to_string());
            return Exit::Io;
        }
    };
    let work = keep
        .map(Path::to_path_buf)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    if let Err(e) = std::fs::create_dir_all(&work) {
        print_error(output, "io", &format!("{}: {e}", work.display()));
        return Exit::Io;
    }
    let registry = match start_registry(tmp.path()) {
        Ok(r) => r,
        Err(e) => {
            print_error(output, "usage", &e);
            return Exit::Usage;
        }
    };
    let url = format!("http://demo:demo@127.0.0.1:{}", registry.port);
    let started = Instant::now();
    let rt = runtime(true);
    let result = rt.block_on(async {
        let clock = crate::clock::Clock::starting_at(crate::sandbox::epoch());
        crate::demo::run(&work, &url, Arc::new(ConsoleProgress::new(clock))).await
    });
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            print_error(output, "demo", &e.to_string());
            return Exit::Failed;
        }
    };
    match output {
        OutputFormat::Json => print_json(&summary),
        OutputFormat::Text => {
            super::progress::close_line();
            crate::outln!("\n━━ The pull-request comments, as GitHub would show them ━━");
            for comment in &summary.comments {
                crate::outln!("\n┌─ PR #{}\n{}", comment.pr, comment.body.trim_end());
            }
            crate::outln!("\n━━ Summary ━━\n");
            crate::outln!("| act | what | outcome |\n|---|---|---|");
            for a in &summary.acts {
                crate::outln!(
                    "| {} | {} | {} |",
                    a.act,
                    a.title,
                    a.outcome.replace('\n', " ")
                );
            }
            crate::outln!(
                "\nDone in {:.1} s of wall time (the simulator's clock is virtual).",
                started.elapsed().as_secs_f64()
            );
            if keep.is_some() {
                crate::outln!(
                    "The repositories and the journal are kept in {}.",
                    work.display()
                );
            }
        }
    }
    Exit::Ok
}

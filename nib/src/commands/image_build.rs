//! `nib image build`: build the Dockerfile next to babel.yaml into the local Docker daemon
//! through its API, tagged with the reference of `container_uri` (`docker-daemon://<tag>`).
//!
//! The build context is the image directory (without `.git`, `.vscode` and `tests/`). A
//! Dockerfile that copies `busybox` while the directory has none gets the host's static
//! busybox in the context, so the scaffold builds as generated, offline (`FROM scratch`).
//! The classic builder is used: it needs no BuildKit session and no registry.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use eyre::{Context, Result, bail, eyre};
use futures::StreamExt;

use super::image_play::load_validated;
use crate::cli::Format;
use crate::image_dir::image_dir;

/// Where the host's static busybox is looked for.
const BUSYBOX_CANDIDATES: &[&str] = &["/bin/busybox", "/usr/bin/busybox", "/sbin/busybox"];

/// Entries of the image directory that never go into the build context.
const NOT_IN_CONTEXT: &[&str] = &[".git", ".vscode", "tests", "target"];

/// What a finished build produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub tag: String,
    pub image_id: String,
    pub seconds: f64,
}

/// The `docker-daemon://` reference of `container_uri`, or the next step when it is not one.
pub fn daemon_tag(container_uri: &str) -> Result<&str> {
    container_uri
        .strip_prefix("docker-daemon://")
        .ok_or_else(|| {
            eyre!(
                "nib image build builds into the local Docker daemon, but container_uri is \
             '{container_uri}'; use `container_uri: docker-daemon://<name>:<tag>` for local builds"
            )
        })
}

/// Build the image of `babel_yaml`, streaming the build output per `format`.
pub async fn run(babel_yaml: &Path, format: Format) -> Result<Built> {
    let image = load_validated(babel_yaml)?;
    let tag = daemon_tag(&image.container_uri)?.to_string();
    let dir = image_dir(babel_yaml);
    let built = build(&dir, &tag, format).await?;
    crate::output::say!(
        "Built {} ({}) in {:.1}s",
        image.container_uri,
        built.image_id,
        built.seconds
    );
    Ok(built)
}

/// Build `<dir>/Dockerfile` as `tag`.
pub async fn build(dir: &Path, tag: &str, format: Format) -> Result<Built> {
    let started = Instant::now();
    let context = build_context(dir)?;
    let docker = connect().await?;
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .version(BuilderVersion::BuilderV1)
        .build();
    let mut stream = docker.build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(context))),
    );
    let mut progress = Progress::new(format);
    let mut image_id = String::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| eyre!("docker build of {tag} failed: {e}"))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            progress.fail();
            bail!("docker build of {tag} failed: {}", err.trim());
        }
        if let Some(id) = info.aux.and_then(|aux| aux.id) {
            image_id = id;
        }
        if let Some(text) = info.stream {
            progress.output(&text);
        }
    }
    progress.done();
    if image_id.is_empty() {
        bail!("docker build of {tag} ended without an image id");
    }
    Ok(Built {
        tag: tag.to_string(),
        image_id,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn connect() -> Result<Docker> {
    let docker = Docker::connect_with_local_defaults()
        .wrap_err("cannot connect to the Docker daemon (is dockerd running? DOCKER_HOST)")?;
    docker
        .negotiate_version()
        .await
        .wrap_err("cannot reach the Docker daemon (is dockerd running? DOCKER_HOST)")
}

/// Build output: every line on a pipe; on a TTY one updating `Step i/n` line, with the full
/// output replayed when the build fails. JSON prints nothing until the result.
struct Progress {
    format: Format,
    tty: bool,
    log: String,
}

impl Progress {
    fn new(format: Format) -> Self {
        Self {
            format,
            tty: std::io::stderr().is_terminal(),
            log: String::new(),
        }
    }

    fn output(&mut self, text: &str) {
        self.log.push_str(text);
        if self.format == Format::Json {
            return;
        }
        if self.tty {
            if let Some(step) = text.lines().find(|l| l.starts_with("Step ")) {
                let mut err = std::io::stderr();
                let _ = write!(err, "\r\x1b[2K{}", truncate(step, 100));
                let _ = err.flush();
            }
        } else {
            print!("{text}");
        }
    }

    fn fail(&mut self) {
        if self.format == Format::Text && self.tty {
            eprintln!("\r\x1b[2K{}", self.log.trim_end());
        } else if self.format == Format::Json {
            eprintln!("{}", self.log.trim_end());
        }
    }

    fn done(&self) {
        if self.format == Format::Text && self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The tar of `dir` that docker builds from.
pub fn build_context(dir: &Path) -> Result<Vec<u8>> {
    let dockerfile = dir.join("Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).wrap_err_with(|| {
        format!(
            "cannot read {} (nib image build needs a Dockerfile next to babel.yaml)",
            dockerfile.display()
        )
    })?;
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    for entry in
        std::fs::read_dir(dir).wrap_err_with(|| format!("cannot list {}", dir.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        if NOT_IN_CONTEXT.iter().any(|n| name == *n) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            tar.append_dir_all(&name, &path)
        } else {
            tar.append_path_with_name(&path, &name)
        }
        .wrap_err_with(|| format!("cannot add {} to the build context", path.display()))?;
    }
    if copies_busybox(&text) && !dir.join("busybox").exists() {
        let busybox = host_busybox().ok_or_else(|| {
            eyre!(
                "the Dockerfile copies `busybox` and neither {} nor the host has one; \
                 install a static busybox (Debian: apt-get install busybox-static) or put one \
                 next to the Dockerfile",
                dir.display()
            )
        })?;
        tar.append_path_with_name(&busybox, "busybox")
            .wrap_err_with(|| format!("cannot add {} to the build context", busybox.display()))?;
    }
    Ok(tar.into_inner()?)
}

/// A `COPY busybox ...` (or `ADD`) instruction.
fn copies_busybox(dockerfile: &str) -> bool {
    dockerfile.lines().any(|l| {
        let mut words = l.split_whitespace();
        matches!(
            words.next().map(str::to_ascii_uppercase).as_deref(),
            Some("COPY" | "ADD")
        ) && words.next() == Some("busybox")
    })
}

fn host_busybox() -> Option<PathBuf> {
    BUSYBOX_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn context_has_the_image_files_and_busybox_when_the_dockerfile_copies_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = super::super::image_create::create(tmp.path(), "demo", "a-b-c", false).unwrap();
        let tar = build_context(&dir).unwrap();
        let names = names(&tar);
        assert!(names.contains(&"Dockerfile".to_string()), "{names:?}");
        assert!(names.contains(&"main.rhai".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with(".vscode")), "{names:?}");
        if host_busybox().is_some() {
            assert!(names.contains(&"busybox".to_string()), "{names:?}");
        }
    }

    #[test]
    fn only_docker_daemon_uris_are_built() {
        assert_eq!(daemon_tag("docker-daemon://a:1").unwrap(), "a:1");
        let err = daemon_tag("docker://reg/a:1").unwrap_err().to_string();
        assert!(err.contains("docker-daemon://<name>:<tag>"), "{err}");
        assert!(copies_busybox("FROM scratch\nCOPY busybox /bin/busybox\n"));
        assert!(!copies_busybox("FROM scratch\nCOPY main.rhai /x\n"));
    }
}

//! Shell completions and man pages of a CLI, generated from its clap definition (feature
//! `cli-docs`): `bv completions <SHELL>`, `bv man <DIR>` and the same for `nib`.

use std::path::{Path, PathBuf};

/// Shells we write completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The completion script of `cmd` for `shell` (made in memory: the caller decides what a
/// closed stdout means).
pub fn completions(mut cmd: clap::Command, shell: Shell) -> String {
    let bin = cmd.get_name().to_string();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = vec![];
    clap_complete::generate(generator, &mut cmd, bin, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes one man page per command and subcommand of `cmd` into `dir` (`bv.1`,
/// `bv-node.1`, `bv-node-list.1`, …); returns the files written.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd;
    cmd.build();
    let mut written = vec![];
    write_pages(&cmd, cmd.get_name(), dir, &mut written)?;
    Ok(written)
}

fn write_pages(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let page = cmd.clone().name(name.to_string());
    let path = dir.join(format!("{name}.1"));
    let mut buf = vec![];
    clap_mangen::Man::new(page).render(&mut buf)?;
    std::fs::write(&path, buf)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> clap::Command {
        clap::Command::new("demo")
            .about("demo tool")
            .subcommand(clap::Command::new("node").subcommand(clap::Command::new("list")))
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = completions(demo(), shell);
            assert!(
                text.contains("node") && text.contains("list"),
                "{shell:?}: {text}"
            );
        }
    }

    #[test]
    fn a_page_per_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let files = man_pages(demo(), dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["demo.1", "demo-node.1", "demo-node-list.1"]);
        let page = std::fs::read_to_string(dir.path().join("demo-node-list.1")).unwrap();
        assert!(page.contains(".TH demo-node-list"), "{page}");
    }
}

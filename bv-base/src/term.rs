//! Whether a program may write terminal escape codes: only to a terminal, and never when
//! `NO_COLOR` is set to a non-empty value (<https://no-color.org>).

use std::io::IsTerminal;

/// True when `NO_COLOR` asks for no colour.
pub fn no_color() -> bool {
    no_color_value(std::env::var_os("NO_COLOR").as_deref())
}

fn no_color_value(v: Option<&std::ffi::OsStr>) -> bool {
    v.is_some_and(|v| !v.is_empty())
}

/// True when colour and other ANSI codes may go to `stream`: it is a terminal and `NO_COLOR`
/// does not forbid them. A log file or a pipe gets plain text.
pub fn ansi_allowed(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && !no_color()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_needs_a_non_empty_value() {
        assert!(!no_color_value(None));
        assert!(!no_color_value(Some("".as_ref())));
        assert!(no_color_value(Some("1".as_ref())));
    }

    #[test]
    fn a_file_gets_no_ansi() {
        let f = tempfile::tempfile().unwrap();
        assert!(!ansi_allowed(&f));
    }
}

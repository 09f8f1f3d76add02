//! Messages on standard error: errors, warnings and status lines, coloured only on a terminal
//! and never with `NO_COLOR` (anstream decides).

use anstyle::{AnsiColor, Style};

use crate::error::CliError;
use crate::terminal::visible;

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const HELP: Style = AnsiColor::Cyan.on_default().bold();

/// Prints the error's warnings, then `error: …`, its causes and its hint.
pub fn error(err: &CliError) {
    for message in &err.warnings {
        warning(message);
    }
    for line in err.render().lines() {
        let (label, style) = if let Some(rest) = line.strip_prefix("error:") {
            (("error:", rest), ERROR)
        } else if let Some(rest) = line.strip_prefix("help:") {
            (("help:", rest), HELP)
        } else {
            (("", line), Style::new())
        };
        anstream::eprintln!("{style}{}{style:#}{}", label.0, visible(label.1));
    }
}

/// Prints `warning: …`.
pub fn warning(message: &str) {
    anstream::eprintln!("{WARNING}warning:{WARNING:#} {}", visible(message));
}

/// Prints a plain status line.
pub fn status(message: &str) {
    anstream::eprintln!("{}", visible(message));
}

/// `12 files, 1 symlink, 1.5 MiB`: what a bundle holds.
pub fn bundle_summary(stats: &spiro_bundle::Stats) -> String {
    format!(
        "{}, {}",
        entry_counts(stats),
        human_bytes(stats.content_bytes)
    )
}

/// `12 files, 1 symlink`: the entries a bundle holds, without a size (where the bundle's own
/// length is the one figure shown).
pub fn entry_counts(stats: &spiro_bundle::Stats) -> String {
    let plural = |n: u64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    let mut parts = vec![plural(stats.files, "file")];
    if stats.symlinks > 0 {
        parts.push(plural(stats.symlinks, "symlink"));
    }
    parts.join(", ")
}

/// `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_use_plurals_and_leave_out_absent_symlinks() {
        let stats = |files, symlinks, content_bytes| spiro_bundle::Stats {
            files,
            symlinks,
            content_bytes,
        };
        assert_eq!(bundle_summary(&stats(1, 0, 9)), "1 file, 9 B");
        assert_eq!(
            bundle_summary(&stats(3, 1, 3 << 20)),
            "3 files, 1 symlink, 3.0 MiB"
        );
    }
}

//! Messages on standard error: errors, warnings and status lines, coloured only on a terminal
//! and never with `NO_COLOR` (anstream decides).

use anstyle::{AnsiColor, Style};

use crate::error::CliError;

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const HELP: Style = AnsiColor::Cyan.on_default().bold();

/// Prints `error: …`, its causes and its hint.
pub fn error(err: &CliError) {
    for line in err.render().lines() {
        let (label, style) = if let Some(rest) = line.strip_prefix("error:") {
            (("error:", rest), ERROR)
        } else if let Some(rest) = line.strip_prefix("help:") {
            (("help:", rest), HELP)
        } else {
            (("", line), Style::new())
        };
        anstream::eprintln!("{style}{}{style:#}{}", label.0, label.1);
    }
}

/// Prints `warning: …`.
pub fn warning(message: &str) {
    anstream::eprintln!("{WARNING}warning:{WARNING:#} {message}");
}

/// Prints a plain status line.
pub fn status(message: &str) {
    anstream::eprintln!("{message}");
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

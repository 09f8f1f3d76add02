//! Ctrl-C during a deploy: say what it did to the deploy, then exit 130 as shells expect
//! (128 + SIGINT). Without this the process ended silently, and a user could not tell whether
//! anything had been deployed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use indicatif::ProgressBar;

use crate::error::{CliError, Exit};
use crate::output;

/// The exit status after Ctrl-C, as a shell reports a process that SIGINT ended.
pub const INTERRUPTED_EXIT: i32 = 130;

/// How far the deploy has got: what a Ctrl-C now means for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    /// The bundle is still being sent: cutting the upload deploys nothing.
    Uploading = 0,
    /// The whole bundle was handed to the connection; the server has not answered yet.
    Sent = 1,
    /// The server accepted the deploy; its events are being shown.
    Following = 2,
}

impl Stage {
    fn from_u8(value: u8) -> Stage {
        match value {
            0 => Stage::Uploading,
            1 => Stage::Sent,
            _ => Stage::Following,
        }
    }

    /// What a Ctrl-C at this stage did, as the error to print.
    pub fn interrupted(self) -> CliError {
        let check = "check with `salt-run jobs.active` on the salt-master before deploying again";
        match self {
            Stage::Uploading => CliError::msg(
                Exit::Other,
                "interrupted: the upload was cut short, so nothing was deployed (the server \
                 discards an incomplete upload)",
            )
            .hint("run the same command again to deploy"),
            Stage::Sent => CliError::msg(
                Exit::Other,
                "interrupted after the whole bundle was sent: the server may deploy it anyway",
            )
            .hint(check),
            Stage::Following => CliError::msg(
                Exit::Other,
                "interrupted: stopped following the deploy, which goes on on the salt-master",
            )
            .hint(check),
        }
    }
}

/// While the deploy runs, turns SIGINT into a message saying what it did, and exit status
/// [`INTERRUPTED_EXIT`].
pub struct OnInterrupt {
    stage: Arc<AtomicU8>,
}

impl OnInterrupt {
    /// Handles SIGINT from now on (the handler stays for the rest of the process: the deploy
    /// is the last thing it does). `bar` is cleared before the message. A SIGINT ignored when
    /// the process started (a background job, `nohup`) stays ignored.
    pub fn arm(bar: &ProgressBar) -> OnInterrupt {
        let stage = Arc::new(AtomicU8::new(Stage::Uploading as u8));
        #[cfg(unix)]
        listen(stage.clone(), bar.clone());
        #[cfg(not(unix))]
        let _ = bar;
        OnInterrupt { stage }
    }

    /// Records that the deploy reached `stage`.
    pub fn reached(&self, stage: Stage) {
        self.stage.store(stage as u8, Ordering::SeqCst);
    }
}

/// Waits for SIGINT on a thread of its own, where printing is safe (unlike in a handler).
#[cfg(unix)]
fn listen(stage: Arc<AtomicU8>, bar: ProgressBar) {
    if crate::output_file::sigint_ignored() {
        return;
    }
    // Without the listener, SIGINT ends the process as before: nothing worse than today.
    let Ok(mut signals) = signal_hook::iterator::Signals::new([libc::SIGINT]) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("on-interrupt".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                bar.finish_and_clear();
                output::error(&Stage::from_u8(stage.load(Ordering::SeqCst)).interrupted());
                std::process::exit(INTERRUPTED_EXIT);
            }
        });
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_says_whether_anything_was_deployed() {
        let text = |stage: Stage| stage.interrupted().render();
        assert!(text(Stage::Uploading).contains("nothing was deployed"));
        assert!(text(Stage::Sent).contains("may deploy it anyway"));
        assert!(text(Stage::Following).contains("goes on on the salt-master"));
        for value in 0..3 {
            assert_eq!(Stage::from_u8(value) as u8, value);
        }
    }
}

//! The token: present, and not refused by its own caveats (expired, not yet valid, another
//! project), checked before anything is sent.

use spiro_client::{CaveatProblem, Caveats, Token, unix_now};

use crate::args::Args;
use crate::error::{CliError, Exit};
use crate::output;

/// The token, or the error saying where to get one.
pub fn token(args: &Args) -> Result<&Token, CliError> {
    args.token.as_ref().ok_or_else(|| {
        CliError::msg(
            Exit::Auth,
            "no token: the server needs one to accept a deploy",
        )
        .hint(
            "set SPIRO_TOKEN (or pass --token) to a token from \
             `salt-run spiro.issue_token <project>` on the salt-master, or name a file holding \
             it with --token-file or SPIRO_TOKEN_FILE",
        )
    })
}

/// Reads the token's caveats and stops before uploading anything if they refuse the deploy.
pub fn check_caveats(args: &Args, project: Option<&str>) -> Result<(), CliError> {
    let token = token(args)?;
    let caveats = match Caveats::read(token) {
        Ok(caveats) => caveats,
        Err(e) => {
            output::warning(&format!(
                "cannot read the caveats of {}: {e}; the server will decide",
                args.token_source.describe()
            ));
            return Ok(());
        }
    };
    let now = unix_now();
    let checked = match project {
        Some(project) => caveats.check(project, now),
        None => caveats.check_time(now),
    };
    let problem = match checked {
        Ok(()) => return Ok(()),
        Err(problem) => problem,
    };
    let hint = match &problem {
        CaveatProblem::Expired { .. } => format!(
            "issue a new token with `salt-run spiro.issue_token {} [lifespan]` and put it in {}",
            project.unwrap_or("<project>"),
            args.token_source.setting()
        ),
        CaveatProblem::NotYetValid { .. } => {
            "check this machine's clock, or wait until the token becomes valid".to_owned()
        }
        CaveatProblem::ProjectNotAllowed { project, .. } => format!(
            "deploy a project the token covers, or issue a token for this one with \
             `salt-run spiro.issue_token {project}`"
        ),
    };
    Err(CliError::msg(
        Exit::Auth,
        format!(
            "{problem} (checked {}; nothing was sent)",
            args.token_source.describe()
        ),
    )
    .hint(hint))
}

//! Uploading the bundle and showing the deploy (issue "Deploy": in progress).

use crate::args::Args;
use crate::bundle::Plan;
use crate::error::{CliError, Exit};

/// `--check`: verify the token with `GET /`.
pub fn check(_args: &Args) -> Result<Exit, CliError> {
    Err(CliError::msg(Exit::Other, "--check is not available yet"))
}

/// Refuses project and deployment names that would escape on the server.
pub fn validate_names(_args: &Args) -> Result<(), CliError> {
    Ok(())
}

/// Streams the bundle that `plan` describes to the server and shows the deploy.
pub fn run(_args: &Args, _plan: Plan) -> Result<Exit, CliError> {
    Err(CliError::msg(
        Exit::Other,
        "deploying is not available yet: use --output",
    ))
}

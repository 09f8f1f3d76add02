//! Project and deployment names, refused before anything is built or sent.

use crate::args::Args;
use crate::error::{CliError, Exit};

/// Refuses project and deployment names that would escape on the server.
pub fn validate_names(args: &Args) -> Result<(), CliError> {
    let hint = "names may not be empty, `.` or `..`, contain `..` components, or (for the \
                deployment) contain `/`: the server builds paths from them without checking";
    if let Some(project) = &args.project {
        spiro_client::validate_project(project)
            .map_err(|e| CliError::new(Exit::Usage, e).hint(hint))?;
    }
    if let Some(deployment) = &args.deployment {
        spiro_client::validate_deployment(deployment)
            .map_err(|e| CliError::new(Exit::Usage, e).hint(hint))?;
    }
    Ok(())
}

//! Uploading the bundle while it is built and showing the deploy as it happens.
//!
//! - `connect`: the client from the flags, checked before anything is built (`--check`);
//! - `names` and `token`: what is refused before anything is sent;
//! - `upload`: the bundle built into the upload, the progress, the events shown;
//! - `interrupt`: what Ctrl-C did to the deploy, said before exiting 130;
//! - `client_error`: a client error's exit status, hint and warnings;
//! - `render`: the events as text or JSON lines.

mod client_error;
mod connect;
mod deadline;
mod interrupt;
mod names;
mod render;
mod token;
mod upload;

pub use connect::{check, connect};
pub use upload::run;

#[cfg(test)]
mod tests {
    #[test]
    fn deploy_events_are_json_lines() {
        let event = spiro_client::Event::DeployBundle(spiro_client::Status {
            msg: "Deploying bundle".into(),
        });
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"event":"deploy-bundle","data":{"msg":"Deploying bundle"}}"#
        );
    }
}

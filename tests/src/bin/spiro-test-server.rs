//! `spiro-test-server`: the integration tests' SpiroFS server as a program, for benchmarks
//! (`curl -F bundle=@file` against `spiro-deploy`) and manual tries. Listens on 127.0.0.1 only.
//!
//! ```text
//! spiro-test-server [--port N] [--token T] [--save-dir DIR] [--body-limit BYTES] [--highstate MINION,...]
//!                   [--tls CA_FILE]
//! ```
//!
//! It accepts uploads (streaming the bundle part to `DIR/bundle-<n>.tar` when --save-dir is
//! given), validates them as tars, and answers like the real server: `deploy-bundle`, then, if
//! minions are given, a successful highstate of them. It prints its URL on the first line.
//! With `--tls CA_FILE` it speaks HTTPS with a leaf certificate for 127.0.0.1 signed by a test CA
//! made for this run, and writes that CA's certificate (PEM) to CA_FILE for the client to trust.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use spiro_tests::server::{
    Answer, Config, Step, TestPki, TestServer, deploy_bundle, successful_highstate,
};

fn main() {
    let mut port = 0u16;
    let mut token = String::from("test-token");
    let mut save_dir = None;
    let mut body_limit = None;
    let mut minions: Vec<String> = Vec::new();
    let mut tls_ca_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--port" => {
                port = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--port takes a number"))
            }
            "--token" => token = value(),
            "--save-dir" => save_dir = Some(PathBuf::from(value())),
            "--body-limit" => {
                body_limit = Some(
                    value()
                        .parse()
                        .unwrap_or_else(|_| usage("--body-limit takes bytes")),
                )
            }
            "--highstate" => {
                minions = value()
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "--tls" => tls_ca_file = Some(PathBuf::from(value())),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let steps: Vec<Step> = if minions.is_empty() {
        vec![deploy_bundle()]
    } else {
        let names: Vec<&str> = minions.iter().map(String::as_str).collect();
        successful_highstate(&names)
    };
    let mut config = Config::new(&token, Answer::Stream(steps));
    config.save_dir = save_dir;
    config.body_limit = body_limit;
    // Kept until the end: it owns the directory the certificates were written to.
    let _pki = tls_ca_file.map(|ca_file| {
        let pki = TestPki::new();
        if let Err(e) = std::fs::copy(pki.ca_pem(), &ca_file) {
            eprintln!(
                "spiro-test-server: cannot write the CA certificate to {}: {e}",
                ca_file.display()
            );
            std::process::exit(1);
        }
        config.tls = Some(pki.server_config());
        pki
    });
    let server = TestServer::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), config);
    println!("{}", server.url());
    server.wait_forever();
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("spiro-test-server: {problem}");
    }
    eprintln!(
        "usage: spiro-test-server [--port N] [--token T] [--save-dir DIR] [--body-limit BYTES] [--highstate MINION,...] [--tls CA_FILE]"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}

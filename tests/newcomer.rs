//! What a newcomer tripped over, following the README (issue 11, section 3): the environment
//! in `--help`, `--check` with a private CA, `--output -` on a terminal, Ctrl-C during an
//! upload, `--output` into a missing directory, `http://` to a TLS port, a token's expiry date.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use spiro_tests::server::*;
use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

/// A token for the project `web`, valid from a minute ago for `lifetime` seconds.
fn token_for(lifetime: i64) -> String {
    project_token("newcomer", &["web"], lifetime)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base:\n  '*':\n    - app\n");
    write(dir.path(), "_salt/app/init.sls", "app: pkg.installed\n");
    dir
}

#[test]
fn help_lists_every_environment_variable_the_tool_reads() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(spiro_deploy(dir.path()).arg("--help"));
    assert_exit(&output, 0);
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "SPIRO_URL",
        "SPIRO_TOKEN",
        "SPIRO_TOKEN_FILE",
        "SPIRO_SSL_CERT",
        "SOURCE_DATE_EPOCH",
        "SPIRO_PLUGIN_PATH",
        "XDG_DATA_HOME",
        "XDG_CONFIG_HOME",
        "HTTPS_PROXY",
        "NO_PROXY",
        "NO_COLOR",
        "CLICOLOR_FORCE",
    ] {
        assert!(
            help.contains(variable),
            "--help does not name {variable}:\n{help}"
        );
    }
}

#[test]
fn check_trusts_a_private_ca_from_ssl_cert_or_spiro_ssl_cert() {
    let pki = TestPki::new();
    let token = token_for(3600);
    let mut config = Config::new(&token, Answer::Stream(vec![deploy_bundle()]));
    config.tls = Some(pki.server_config());
    let server = TestServer::start(config);
    let dir = tempfile::tempdir().unwrap();
    let check = || {
        let mut cmd = spiro_deploy(dir.path());
        cmd.env("SPIRO_URL", server.url())
            .env("SPIRO_TOKEN", &token)
            .arg("--check");
        cmd
    };

    let output = run(check().arg("--ssl-cert").arg(pki.ca_pem()));
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("accepts"), "{}", stderr(&output));

    let output = run(check().env("SPIRO_SSL_CERT", pki.ca_pem()));
    assert_exit(&output, 0);

    // --insecure with SPIRO_SSL_CERT is a conflict that names the variable.
    let output = run(check()
        .env("SPIRO_SSL_CERT", pki.ca_pem())
        .arg("--insecure"));
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("--insecure and SPIRO_SSL_CERT cannot be used together"),
        "{}",
        stderr(&output)
    );

    // Without it, the system's authorities do not know the test CA.
    let output = run(&mut check());
    assert_exit(&output, 4);
    assert!(
        stderr(&output).contains("--ssl-cert"),
        "{}",
        stderr(&output)
    );
}

/// `script` (util-linux) runs `command` with a pseudo-terminal as its standard output.
fn in_a_terminal(dir: &Path, command: &str) -> Option<Output> {
    in_a_terminal_with(dir, command, &[])
}

/// [`in_a_terminal`] with these environment variables set.
fn in_a_terminal_with(dir: &Path, command: &str, env: &[(&str, &str)]) -> Option<Output> {
    let probe = Command::new("script").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: this test needs `script` from util-linux to make a terminal");
        return None;
    }
    let output = Command::new("script")
        .args(["-q", "-e", "-c", command, "/dev/null"])
        .current_dir(dir)
        .env_remove("SPIRO_URL")
        .env_remove("SPIRO_TOKEN")
        .env_remove("SPIRO_TOKEN_FILE")
        .env_remove("SPIRO_SSL_CERT")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    Some(output)
}

#[test]
fn output_dash_refuses_a_terminal_unless_redirected() {
    let dir = project();
    let bin = spiro_deploy_bin();
    let Some(output) = in_a_terminal(
        dir.path(),
        &format!("'{}' --output - web prod", bin.display()),
    ) else {
        return;
    };
    // script passes on the status, and shows the terminal's output (both streams) as stdout.
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("not writing the bundle to a terminal"),
        "{shown}"
    );
    assert!(
        !shown.contains("ustar"),
        "tar data reached the terminal: {shown}"
    );

    let command = format!("'{}' --output - web prod > bundle.tar", bin.display());
    let output = in_a_terminal(dir.path(), &command).expect("script ran before");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let bundle = std::fs::read(dir.path().join("bundle.tar")).unwrap();
    assert!(names(&read_tar(&bundle)).contains(&"top.sls"));
}

/// The text a terminal shows, line by line: split at carriage returns and newlines (each
/// progress redraw starts with one), with escape sequences (colours, line clearing) removed.
fn screen_lines(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then a final letter.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .split(['\r', '\n'])
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_progress_line_fits_80_columns_and_agrees_with_the_summary() {
    let token = token_for(3600);
    let server = TestServer::start(Config::new(&token, Answer::Stream(vec![deploy_bundle()])));
    let dir = project();
    std::fs::File::create(dir.path().join("big.bin"))
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let command = format!(
        "stty cols 80 rows 24; '{}' --server {} --insecure --no-highstate --artifact big.bin web prod",
        spiro_deploy_bin().display(),
        server.url()
    );
    let Some(output) = in_a_terminal_with(dir.path(), &command, &[("SPIRO_TOKEN", &token)]) else {
        return;
    };
    let lines = screen_lines(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{lines:#?}");
    for line in &lines {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
    let bars: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("uploading ["))
        .collect();
    let last_bar = bars
        .last()
        .unwrap_or_else(|| panic!("no progress line: {lines:#?}"));
    let total = last_bar
        .split_once("/")
        .and_then(|(_, rest)| rest.split_once(" MiB").map(|(n, _)| format!("{n} MiB")))
        .unwrap_or_else(|| panic!("no total in {last_bar:?}"));
    let summary = lines
        .iter()
        .find(|l| l.starts_with("uploaded "))
        .unwrap_or_else(|| panic!("no summary: {lines:#?}"));
    assert!(
        summary.starts_with(&format!("uploaded {total} (")),
        "the progress line's total {total} is not the summary's: {summary:?}"
    );
}

#[test]
fn output_into_a_missing_directory_cannot_write_and_names_it() {
    let dir = project();
    let output =
        run(spiro_deploy(dir.path()).args(["--output", "missing/bundle.tar", "web", "prod"]));
    assert_exit(&output, 3);
    let err = stderr(&output);
    assert!(err.contains("cannot write"), "{err}");
    assert!(!err.contains("cannot read"), "{err}");
    assert!(
        err.contains("missing`"),
        "the directory is not named: {err}"
    );
    assert!(err.contains("does not exist: create it first"), "{err}");
}

#[test]
fn an_expired_token_shows_its_expiry_as_a_utc_date_and_how_long_ago() {
    let dir = project();
    let output = run(spiro_deploy(dir.path())
        .env("SPIRO_TOKEN", token_for(-7200))
        .args(["--server", "https://127.0.0.1:9/", "web", "prod"]));
    assert_exit(&output, 5);
    let err = stderr(&output);
    let (_, rest) = err
        .split_once("the token expired 2 h ago (")
        .unwrap_or_else(|| panic!("{err}"));
    let date = &rest[..rest.find(')').unwrap_or_else(|| panic!("{err}"))];
    // 2026-11-30T12:00:00Z
    let shape: String = date
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99T99:99:99Z", "{err}");
    assert!(!err.contains("Unix time"), "{err}");
}

#[test]
fn plain_http_to_a_tls_port_suggests_https() {
    let pki = TestPki::new();
    let token = token_for(3600);
    let mut config = Config::new(&token, Answer::Stream(vec![deploy_bundle()]));
    config.tls = Some(pki.server_config());
    let server = TestServer::start(config);
    let url = server.url().replace("https://", "http://");
    let dir = project();
    let output = run(spiro_deploy(dir.path()).env("SPIRO_TOKEN", &token).args([
        "--server",
        &url,
        "--insecure",
        "--check",
    ]));
    assert_exit(&output, 4);
    let err = stderr(&output);
    let https = server.url();
    assert!(err.contains(&format!("use {https}")), "{err}");
    assert!(!err.contains("check the network"), "{err}");
}

/// As SpiroFS's TLS port (OpenSSL) does to a plain HTTP request: the connection reset, no
/// answer. Closing a socket with unread data makes the kernel send a reset.
#[test]
fn plain_http_reset_at_once_suggests_https() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut first = [0; 4];
            let _ = std::io::Read::read_exact(&mut stream, &mut first);
            std::thread::sleep(Duration::from_millis(50));
            drop(stream);
        }
    });
    let dir = project();
    let output = run(spiro_deploy(dir.path())
        .env("SPIRO_TOKEN", token_for(3600))
        .args([
            "--server",
            &format!("http://127.0.0.1:{port}/"),
            "--insecure",
            "--check",
        ]));
    assert_exit(&output, 4);
    let err = stderr(&output);
    assert!(
        err.contains(&format!("use https://127.0.0.1:{port}/")),
        "{err}"
    );
    assert!(!err.contains("check the network"), "{err}");
}

/// A server that answers `GET /` and then, for the upload, reads nothing more: the upload
/// stalls as on a slow link. Each upload's arrival is sent on the returned channel.
fn stalling_server() -> (String, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (uploads, arrived) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let uploads = uploads.clone();
            std::thread::spawn(move || stall(stream, &uploads));
        }
    });
    (url, arrived)
}

fn stall(stream: TcpStream, uploads: &mpsc::Sender<()>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push(line);
        }
        if head.first().is_some_and(|l| l.starts_with("GET ")) {
            let _ = writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        } else {
            let _ = uploads.send(());
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
    }
}

#[test]
fn ctrl_c_during_the_upload_says_nothing_was_deployed_and_exits_130() {
    let (url, arrived) = stalling_server();
    let dir = project();
    // More than the socket buffers hold, so that the upload is still going when SIGINT comes;
    // a sparse file, so nothing big is written to disk.
    std::fs::File::create(dir.path().join("big.bin"))
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let mut child = spiro_deploy(dir.path())
        .env("SPIRO_TOKEN", token_for(3600))
        .args([
            "--server",
            &url,
            "--insecure",
            "--artifact",
            "big.bin",
            "web",
            "prod",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    arrived
        .recv_timeout(Duration::from_secs(60))
        .expect("the upload reached the server");
    // Let the upload fill the buffers and stall.
    std::thread::sleep(Duration::from_millis(500));
    // `kill` (procps or util-linux) sends the signal, as a terminal's Ctrl-C would.
    let Ok(killed) = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
    else {
        eprintln!("SKIPPED: this test needs `kill` to send SIGINT");
        child.kill().unwrap();
        child.wait().unwrap();
        return;
    };
    assert!(killed.success());

    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("spiro-deploy did not end on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(err.contains("the upload was cut short"), "{err}");
    assert!(err.contains("nothing was deployed"), "{err}");
    assert!(err.contains("discards an incomplete upload"), "{err}");
}

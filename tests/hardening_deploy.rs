//! The audit's findings (issue 10) for the deploy client, against misbehaving servers on
//! 127.0.0.1 that the tests start: raw `TcpListener` servers that speak just enough HTTP/1.1
//! to misbehave precisely.
//!
//! - 4: an event over the limit ends the deploy (exit 6) with memory bounded;
//! - 5: waits with no end (`GET /` unanswered, an upload nobody reads, no answer after the
//!   upload) end with a clear error after the configured time;
//! - 12: a dead or refusing proxy is named as the proxy, not blamed on the server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spiro_tests::server::project_token;
use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

/// What a raw server does with a `POST`, once its head (request line and headers) is read.
type OnPost = dyn Fn(&mut BufReader<TcpStream>, &str) + Send + Sync;

/// A raw HTTP/1.1 server on 127.0.0.1: `GET /` is answered `200 Auth OK` (unless
/// `answer_get` is false: then it is read and never answered); a `POST` is handed to `on_post`.
fn raw_server(answer_get: bool, on_post: Arc<OnPost>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let on_post = on_post.clone();
            std::thread::spawn(move || serve_connection(stream, answer_get, &*on_post));
        }
    });
    addr
}

fn serve_connection(stream: TcpStream, answer_get: bool, on_post: &OnPost) {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut reader) else {
            return;
        };
        if head.starts_with("GET ") {
            if !answer_get {
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
            let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nAuth OK";
            if reader.get_mut().write_all(answer).is_err() {
                return;
            }
        } else {
            on_post(&mut reader, &head);
            return;
        }
    }
}

/// The request line and headers, up to the blank line; `None` at the end of the connection.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            return Some(head);
        }
        head.push_str(&line);
    }
}

/// Reads the whole request body (by `Content-Length`, else chunked up to its terminator).
fn read_body(reader: &mut BufReader<TcpStream>, head: &str) {
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<u64>().ok())?
    });
    match length {
        Some(length) => {
            std::io::copy(&mut reader.take(length), &mut std::io::sink()).unwrap();
        }
        None => {
            let mut tail = Vec::new();
            let mut buf = [0u8; 64 * 1024];
            while !tail.ends_with(b"\r\n0\r\n\r\n") {
                let n = reader.read(&mut buf).unwrap();
                assert!(n > 0, "the body ended early");
                tail.extend_from_slice(&buf[..n]);
                let keep = tail.len().saturating_sub(8);
                tail.drain(..keep);
            }
        }
    }
}

/// Answers `200 text/event-stream` (delimited by closing the connection) and writes what
/// `body` writes, until it or the connection gives up.
fn event_stream(
    body: impl Fn(&mut TcpStream) -> std::io::Result<()> + Send + Sync + 'static,
) -> Arc<OnPost> {
    Arc::new(move |reader, head| {
        read_body(reader, head);
        let stream = reader.get_mut();
        let _ = stream
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n\
                  event: deploy-bundle\ndata: {\"msg\": \"Deploying bundle\"}\n\n",
            )
            .and_then(|()| body(stream));
    })
}

fn token() -> String {
    project_token("SECRET-identifier-do-not-print", &["web"], 3600)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base:\n  '*':\n    - app\n");
    write(dir.path(), "_salt/app/init.sls", "app: pkg.installed\n");
    dir
}

/// `spiro-deploy --insecure` against `addr` with the token, no proxy from the environment.
fn deploy_cmd(addr: SocketAddr, dir: &Path) -> Command {
    let mut cmd = spiro_deploy(dir);
    cmd.env("SPIRO_URL", format!("http://{addr}/"))
        .env("SPIRO_TOKEN", token())
        .arg("--insecure");
    for proxy in PROXY_VARIABLES {
        cmd.env_remove(proxy);
    }
    cmd
}

const PROXY_VARIABLES: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Runs `cmd` to its end and returns its output with its peak resident memory in KiB
/// (`VmHWM`, read while it runs).
#[cfg(target_os = "linux")]
fn run_measuring(cmd: &mut Command) -> (Output, u64) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    // Drain the pipes meanwhile so a chatty child never blocks on them.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib = line["VmHWM:".len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    };
    eprintln!("stderr:\n{}\npeak RSS {peak_kib} KiB", stderr_text(&output));
    assert!(peak_kib > 0, "VmHWM was read");
    (output, peak_kib)
}

fn stderr_text(output: &Output) -> String {
    stderr(output)
}

// Finding 4: unbounded memory from the event stream.

const TEST_LIMIT: usize = 1 << 20;

/// An event of the limit plus one byte ends the deploy: exit 6, the limit named.
#[test]
fn an_event_one_byte_over_the_limit_ends_the_deploy_with_exit_6() {
    let addr = raw_server(
        true,
        event_stream(|stream| {
            let payload = "x".repeat(TEST_LIMIT + 1);
            write!(stream, "event: highstate-update\ndata: {payload}\n\n")
        }),
    );
    let dir = project();
    let output = run(deploy_cmd(addr, dir.path())
        .env("SPIRO_DEPLOY_TEST_EVENT_LIMIT", TEST_LIMIT.to_string())
        .args(["web", "prod"]));
    assert_exit(&output, 6);
    let err = stderr(&output);
    assert!(
        err.contains("the server sent an event larger than the limit of 1 MiB"),
        "{err}"
    );
    assert!(err.contains("jobs.active"), "{err}");
}

/// A line that never ends, and many small `data:` lines adding up: both are refused as soon
/// as they pass the limit, with memory far below what the server sends.
#[test]
#[cfg(target_os = "linux")]
fn an_endless_line_or_endless_data_lines_keep_memory_bounded() {
    let endless: [&'static [u8]; 2] = [b"xxxxxxxxxxxxxxxx", b"data: x\n"];
    for piece in endless {
        let addr = raw_server(
            true,
            event_stream(move |stream| {
                stream.write_all(b"event: highstate-update\ndata: ")?;
                let block = piece.repeat(64 * 1024 / piece.len());
                // 1 GiB at most; the client hangs up long before.
                for _ in 0..(1 << 30) / block.len() {
                    stream.write_all(&block)?;
                }
                Ok(())
            }),
        );
        let dir = project();
        let started = Instant::now();
        let (output, peak_kib) = run_measuring(
            deploy_cmd(addr, dir.path())
                .env("SPIRO_DEPLOY_TEST_EVENT_LIMIT", TEST_LIMIT.to_string())
                .args(["web", "prod"]),
        );
        assert_exit(&output, 6);
        assert!(stderr(&output).contains("larger than the limit"));
        assert!(peak_kib < 32 * 1024, "peak RSS {peak_kib} KiB");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

/// At the real, default limit (64 MiB), an endless event is refused too, within seconds,
/// and the client holds about the limit, not what the server sends.
#[test]
#[cfg(target_os = "linux")]
fn an_endless_event_at_the_default_limit_is_refused() {
    let addr = raw_server(
        true,
        event_stream(|stream| {
            stream.write_all(b"event: highstate-update\ndata: ")?;
            let block = vec![b'x'; 256 * 1024];
            // 1 GiB at most; the client hangs up after 64 MiB.
            for _ in 0..4096 {
                stream.write_all(&block)?;
            }
            Ok(())
        }),
    );
    let dir = project();
    let started = Instant::now();
    let (output, peak_kib) = run_measuring(deploy_cmd(addr, dir.path()).args(["web", "prod"]));
    assert_exit(&output, 6);
    assert!(
        stderr(&output).contains("larger than the limit of 64 MiB"),
        "{}",
        stderr(&output)
    );
    assert!(peak_kib < 128 * 1024, "peak RSS {peak_kib} KiB");
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Library users set the limit with `Options::event_limit`: the events before the large one
/// come through, then `Error::EventTooLarge`, then nothing.
#[test]
fn the_event_limit_is_a_library_option() {
    use spiro_client::{Client, Deploy, Error, Event, Options, Tls, Token};
    let addr = raw_server(
        true,
        event_stream(|stream| {
            write!(
                stream,
                "event: highstate-update\ndata: {}\n\n",
                "x".repeat(1001)
            )
        }),
    );
    let options = Options::new(format!("http://{addr}/"), Token::new(token()))
        .tls(Tls::Insecure)
        .event_limit(1000);
    let client = Client::new(options).unwrap();
    let deploy = Deploy {
        project: "web".into(),
        deployment: "prod".into(),
        highstate: true,
        bundle_len: None,
        compression: None,
    };
    let ((), mut events) = client
        .upload(&deploy, |upload| upload.write_all(&[0u8; 10240]))
        .unwrap();
    assert!(matches!(events.next(), Some(Ok(Event::DeployBundle(_)))));
    let error = events.next().unwrap().unwrap_err();
    assert!(
        matches!(error, Error::EventTooLarge { limit: 1000 }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the server sent an event larger than the limit of 1000 bytes"
    );
    assert!(events.next().is_none());
}

// Finding 5: waits with no end.

/// A project with a sparse artifact of `len` bytes: a bundle larger than every socket buffer
/// on the way, at no disk cost.
fn project_with_artifact(len: u64) -> tempfile::TempDir {
    let dir = project();
    let file = std::fs::File::create(dir.path().join("huge.bin")).unwrap();
    file.set_len(len).unwrap();
    dir
}

/// Runs the deploy and checks that it ended with `code` and `message` well before `within`.
fn assert_ends(cmd: &mut Command, code: i32, message: &str, within: Duration) -> Output {
    let started = Instant::now();
    let output = run(cmd);
    let elapsed = started.elapsed();
    assert_exit(&output, code);
    let err = stderr(&output);
    assert!(err.contains(message), "{err}");
    assert!(elapsed < within, "took {elapsed:?}");
    output
}

#[test]
fn a_server_that_never_answers_the_token_check_times_out() {
    let addr = raw_server(false, Arc::new(|_, _| {}));
    let dir = project();
    let output = assert_ends(
        deploy_cmd(addr, dir.path()).args(["--check-timeout", "1", "web", "prod"]),
        4,
        &format!(
            "error: the server at http://{addr}/ did not answer the token check (GET /) within 1 s"
        ),
        Duration::from_secs(15),
    );
    assert!(stderr(&output).contains("--check-timeout"));
    // --check too.
    assert_ends(
        deploy_cmd(addr, dir.path()).args(["--check", "--check-timeout", "1.5"]),
        4,
        "did not answer the token check (GET /) within 1.5 s",
        Duration::from_secs(15),
    );
}

#[test]
fn an_upload_the_server_stops_reading_times_out() {
    let addr = raw_server(
        true,
        Arc::new(|_, _| std::thread::sleep(Duration::from_secs(3600))),
    );
    let dir = project_with_artifact(256 << 20);
    let output = assert_ends(
        deploy_cmd(addr, dir.path()).args([
            "--stall-timeout",
            "1",
            "--artifact",
            "huge.bin",
            "web",
            "prod",
        ]),
        4,
        "made no progress for 1 s",
        Duration::from_secs(30),
    );
    let err = stderr(&output);
    assert!(
        err.contains(&format!("the upload to http://{addr}/")),
        "{err}"
    );
    assert!(err.contains("--stall-timeout"), "{err}");
}

#[test]
fn a_server_that_takes_the_upload_and_never_answers_times_out() {
    let addr = raw_server(
        true,
        Arc::new(|reader, head| {
            read_body(reader, head);
            std::thread::sleep(Duration::from_secs(3600));
        }),
    );
    let dir = project_with_artifact(8 << 20);
    let output = assert_ends(
        deploy_cmd(addr, dir.path()).args([
            "--response-timeout",
            "1",
            "--artifact",
            "huge.bin",
            "web",
            "prod",
        ]),
        6,
        &format!("error: the server at http://{addr}/ did not answer the deploy within 1 s"),
        Duration::from_secs(30),
    );
    let err = stderr(&output);
    assert!(err.contains("jobs.active"), "{err}");
    assert!(err.contains("--response-timeout"), "{err}");
}

/// The timeouts end waits for an answer, never the deploy's events: a stream silent for
/// longer than every one of them still completes.
#[test]
fn the_event_stream_keeps_no_timeout() {
    let addr = raw_server(
        true,
        event_stream(|stream| {
            std::thread::sleep(Duration::from_millis(2500));
            stream.write_all(
                b"event: highstate-calc\ndata: {\"msg\": \"Calculating\"}\n\n\
                  event: highstate-start\ndata: {\"msg\": \"No minions to highstate\", \"minions\": []}\n\n\
                  event: highstate-finish\ndata: {\"msg\": \"Highstate complete\"}\n\n",
            )
        }),
    );
    let dir = project();
    let output = run(deploy_cmd(addr, dir.path()).args([
        "--connect-timeout",
        "1",
        "--check-timeout",
        "1",
        "--stall-timeout",
        "1",
        "--response-timeout",
        "1",
        "web",
        "prod",
    ]));
    assert_exit(&output, 0);
}

#[test]
fn timeouts_must_be_positive() {
    let dir = project();
    for flag in ["--check-timeout", "--stall-timeout", "--response-timeout"] {
        let mut cmd = spiro_deploy(dir.path());
        cmd.env("SPIRO_TOKEN", token()).args([
            "--server",
            "http://127.0.0.1:1/",
            "--insecure",
            flag,
            "0",
            "web",
            "prod",
        ]);
        let output = run(&mut cmd);
        assert_exit(&output, 2);
        assert!(
            stderr(&output).contains(&format!("{flag} 0 is not a positive number of seconds")),
            "{}",
            stderr(&output)
        );
    }
}

// Finding 12: proxy failures blamed on the server.

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A "proxy" on 127.0.0.1 that answers every request (or `CONNECT`) with `answer` and closes.
fn bad_proxy(answer: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                if read_head(&mut reader).is_some() {
                    let _ = reader.get_mut().write_all(answer);
                }
            });
        }
    });
    port
}

/// `spiro-deploy --check` for `server` with only `variable` set to `proxy`, and checks that
/// the error names the proxy (without its user info) and the variable, and hints at
/// NO_PROXY; returns stderr.
fn check_through_proxy(server: &str, variable: &str, proxy_port: u16, reason: &str) -> String {
    let dir = project();
    let mut cmd = spiro_deploy(dir.path());
    for proxy in PROXY_VARIABLES {
        cmd.env_remove(proxy);
    }
    cmd.env("SPIRO_TOKEN", token())
        .env(
            variable,
            format!("http://proxyuser:PROXY-SECRET@127.0.0.1:{proxy_port}"),
        )
        .args(["--server", server, "--check", "--connect-timeout", "5"]);
    if server.starts_with("http://") {
        cmd.arg("--insecure");
    }
    let output = run(&mut cmd);
    assert_exit(&output, 4);
    let err = stderr(&output);
    let expected = format!(
        "error: cannot reach {server} through the proxy http://127.0.0.1:{proxy_port} (from \
         {variable}): {reason}"
    );
    assert!(err.contains(&expected), "expected {expected:?} in:\n{err}");
    assert!(err.contains("NO_PROXY"), "{err}");
    assert!(
        !err.contains("PROXY-SECRET") && !err.contains("proxyuser"),
        "{err}"
    );
    // Not blamed on the server.
    assert!(!err.contains("SpiroFS engine runs"), "{err}");
    err
}

#[test]
fn a_dead_proxy_is_named_not_the_server() {
    let server_port = closed_port();
    let https = format!("https://127.0.0.1:{server_port}/");
    let http = format!("http://127.0.0.1:{server_port}/");
    let refused = "the proxy refused the connection";
    check_through_proxy(&https, "HTTPS_PROXY", closed_port(), refused);
    check_through_proxy(&https, "https_proxy", closed_port(), refused);
    check_through_proxy(&https, "ALL_PROXY", closed_port(), refused);
    check_through_proxy(&http, "HTTP_PROXY", closed_port(), refused);
    check_through_proxy(&http, "all_proxy", closed_port(), refused);
}

#[test]
fn a_proxy_answering_407_or_garbage_is_named_not_the_server() {
    let server_port = closed_port();
    let https = format!("https://127.0.0.1:{server_port}/");
    let http = format!("http://127.0.0.1:{server_port}/");
    let auth = bad_proxy(
        b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\n\
          Content-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let asks = "the proxy asks for authentication (407 Proxy Authentication Required)";
    // Through a CONNECT tunnel (https://) and forwarded (http://).
    check_through_proxy(&https, "HTTPS_PROXY", auth, asks);
    check_through_proxy(&http, "HTTP_PROXY", auth, asks);
    let garbage = bad_proxy(b"this is not HTTP\r\n\r\n");
    check_through_proxy(
        &https,
        "HTTPS_PROXY",
        garbage,
        "the proxy did not open a tunnel",
    );
    check_through_proxy(
        &http,
        "HTTP_PROXY",
        garbage,
        "the proxy's answer is not HTTP",
    );
}

/// NO_PROXY still bypasses the proxy: the server is reached directly.
#[test]
fn no_proxy_bypasses_a_dead_proxy() {
    let addr = raw_server(true, Arc::new(|_, _| {}));
    let dir = project();
    let output = run(deploy_cmd(addr, dir.path())
        .env("HTTP_PROXY", format!("http://127.0.0.1:{}", closed_port()))
        .env("NO_PROXY", "127.0.0.1")
        .arg("--check"));
    assert_exit(&output, 0);
}

//! `--compress`: the bundle gzipped on the wire (SpiroFS unpacks it as it unpacks a tar) or into
//! `--output`, byte for byte the same tar once decompressed.

use std::io::Read;
use std::path::Path;
use std::process::Output;

use spiro_tests::server::*;
use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

fn token() -> String {
    project_token("SECRET-identifier-do-not-print", &["web"], 3600)
}

/// A project whose source compresses well, as source trees do.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base:\n  '*':\n    - app\n");
    for i in 0..50 {
        let text = format!("def handler_{i}(request):\n    return render(request, 'page.html')\n")
            .repeat(200);
        write(dir.path(), format!("src/module_{i}.py"), &text);
    }
    dir
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip stream");
    out
}

fn deploy(server: &TestServer, dir: &Path, token: &str, args: &[&str]) -> Output {
    let mut cmd = spiro_deploy(dir);
    cmd.env("SPIRO_URL", server.url())
        .env("SPIRO_TOKEN", token)
        .arg("--insecure");
    run(cmd.args(args))
}

#[test]
fn a_compressed_deploy_sends_the_same_tar_gzipped_and_says_how_much_went_on_the_wire() {
    let token = token();
    let server = TestServer::start(Config::new(
        &token,
        Answer::Stream(successful_highstate(&["web1"])),
    ));
    let dir = project();
    let tar =
        run(spiro_deploy(dir.path()).args(["--include-source=fs", "--output", "-", "web", "prod"]))
            .stdout;

    let output = deploy(
        &server,
        dir.path(),
        &token,
        &["--include-source=fs", "--compress", "web", "prod"],
    );
    assert_exit(&output, 0);
    let got = server.last_deploy();
    assert!(got.bundle_gzipped, "the bundle went out gzipped");
    assert_eq!(got.bundle_content_type.as_deref(), Some("application/gzip"));
    assert!(got.tar_error.is_none(), "{:?}", got.tar_error);
    // The length is unknown before it is sent: the body goes out chunked.
    assert_eq!(got.header("transfer-encoding"), Some("chunked"));
    let sent = got.bundle.expect("a small bundle is kept");
    assert!(
        sent.len() * 4 < tar.len(),
        "{} bytes gzipped from {}",
        sent.len(),
        tar.len()
    );
    assert_eq!(gunzip(&sent), tar, "the same tar, byte for byte");
    let err = stderr(&output);
    assert!(err.contains(", gzipped to "), "{err}");
    assert!(err.contains("at level 6)"), "{err}");

    // Without --compress, nothing changes: a plain tar with its length.
    let output = deploy(
        &server,
        dir.path(),
        &token,
        &["--include-source=fs", "web", "prod"],
    );
    assert_exit(&output, 0);
    let got = server.last_deploy();
    assert!(!got.bundle_gzipped);
    assert_eq!(got.bundle.as_deref(), Some(&tar[..]));
}

#[test]
fn output_with_compress_writes_a_gzip_of_the_same_tar_at_the_level_given() {
    let dir = project();
    let bundle = |extra: &[&str]| {
        let output = run(spiro_deploy(dir.path())
            .args(["--include-source=fs", "--output", "-"])
            .args(extra)
            .args(["web", "prod"]));
        assert_exit(&output, 0);
        output.stdout
    };
    let tar = bundle(&[]);
    let fast = bundle(&["--compress=1"]);
    let small = bundle(&["--compress=9"]);
    assert_eq!(gunzip(&fast), tar);
    assert_eq!(gunzip(&small), tar);
    assert!(small.len() <= fast.len());
    // Deterministic: the same bytes twice (no timestamp in the gzip header).
    assert_eq!(bundle(&["--compress=1"]), fast);
}

#[test]
fn a_level_outside_one_to_nine_is_a_usage_error() {
    let dir = project();
    for level in ["0", "10", "fast"] {
        let output = run(spiro_deploy(dir.path()).args([
            &format!("--compress={level}"),
            "--output",
            "-",
            "web",
            "prod",
        ]));
        assert_exit(&output, 2);
        let err = stderr(&output);
        assert!(err.contains("--compress"), "{err}");
    }
}

/// A bundle that fails halfway (a blob whose packed data is corrupt, found only when it is
/// inflated) never reaches `--output -` as a complete gzip stream: the stream has no trailer,
/// so a pipeline decompressing it fails too, and the error names the pack and the file.
#[test]
fn output_with_compress_that_fails_halfway_is_not_a_complete_gzip() {
    // Made with the real `git` binary: a packed repository, which gix cannot write.
    let fx = spiro_tests::git::Fixture::init();
    fx.write("_salt/top.sls", "base:\n  '*':\n    - app\n");
    for i in 0..40 {
        fx.write(&format!("a/{i:02}.txt"), format!("file {i}\n").repeat(4000));
    }
    // Incompressible, so that its data is long and a byte in its middle is surely its own.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..200_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    fx.write("z/broken.bin", &noise);
    fx.commit("files");
    fx.git(&["repack", "-adq"]);
    let blob = fx.git(&["rev-parse", "HEAD:z/broken.bin"]);
    let idx = fx.pack_index();
    let offset = offset_in_pack(&fx, &idx, blob.trim());
    let pack = idx.with_extension("pack");
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[offset + 100_000] ^= 0x55;
    let mut permissions = std::fs::metadata(&pack).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&pack, permissions).unwrap();
    std::fs::write(&pack, &bytes).unwrap();

    let output = run(spiro_deploy(&fx.root).args([
        "--include-source=git",
        "--compress",
        "--output",
        "-",
        "web",
        "prod",
    ]));
    assert_exit(&output, 3);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("z/broken.bin"), "{stderr}");
    assert!(
        stderr.contains(".pack") && stderr.contains("corrupt"),
        "{stderr}"
    );
    assert!(!output.stdout.is_empty(), "the entries before it went out");
    let mut inflated = Vec::new();
    let err = flate2::read::GzDecoder::new(&output.stdout[..])
        .read_to_end(&mut inflated)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
}

/// Where `git show-index` says object `id` starts in the pack of `idx`.
fn offset_in_pack(fx: &spiro_tests::git::Fixture, idx: &Path, id: &str) -> usize {
    let listing = fx.git_stdin(&["show-index"], &std::fs::read(idx).unwrap());
    listing
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let offset = fields.next()?;
            (fields.next()? == id).then(|| offset.parse().unwrap())
        })
        .expect("the blob is in the pack")
}

//! Scanner plugins, end to end: the Rust example (`manifest`, through the SDK) and the C
//! example (`toplevel`, against the header alone) are built here, loaded through
//! `spiro-plugin-host` and through `spiro-deploy`, and their bundles checked entry by entry;
//! purpose-built broken plugins (`plugins/tests-fixtures/`) cover every bad input.
//!
//! Rust plugins are built with the same cargo and target directory as this test (a no-op when
//! `cargo test --workspace` already built them); C plugins with `$CC` or `cc`.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use spiro_bundle::{Builder, Error};
use spiro_plugin_host::{LoadError, Plugin, SearchPath, library_file_name};
use spiro_scanner::{
    Candidate, EntryKind, Error as ScanError, OptionError, Scanner, ScannerOptions,
};
use spiro_scanners::FsScanner;
use spiro_tests::{Member, error_text, member, names, read_tar, write};

spiro_tests::spiro_deploy_binary!();

// ---------------------------------------------------------------------------------------------
// Building plugins

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// `target/<profile>`: where this test executable's package outputs go.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps")
        .to_path_buf()
}

/// Builds `packages` with cargo into this test's target directory and profile.
fn cargo_build(packages: &[&str]) {
    let profile_dir = profile_dir();
    let profile = profile_dir.file_name().and_then(OsStr::to_str).unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .arg("build")
        .arg("--quiet")
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    for package in packages {
        cmd.args(["-p", package]);
    }
    let output = cmd.output().expect("cannot run cargo");
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Rust plugins, built once per test run.
fn rust_plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| cargo_build(&["spiro-scanner-manifest", "spiro-scanner-panicky"]));
    let path = profile_dir().join(library_file_name(name));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Compiles `source` (relative to `plugins/`) against today's header as a shared library
/// `out_dir/file_name`.
fn cc(source: &str, out_dir: &Path, file_name: &str, defines: &[&str]) -> PathBuf {
    cc_against("include", source, out_dir, file_name, defines)
}

/// Compiles `source` against the header in `include` (relative to `plugins/`).
fn cc_against(
    include: &str,
    source: &str,
    out_dir: &Path,
    file_name: &str,
    defines: &[&str],
) -> PathBuf {
    let plugins = workspace_root().join("plugins");
    let out = out_dir.join(file_name);
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let mut cmd = Command::new(compiler);
    cmd.args([
        "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
    ])
    .arg("-I")
    .arg(plugins.join(include))
    .args(defines)
    .arg("-o")
    .arg(&out)
    .arg(plugins.join(source));
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler ({e}); install cc or set CC"));
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// The C example plugin, compiled into `dir`.
fn toplevel(dir: &Path) -> PathBuf {
    cc(
        "examples/c/toplevel.c",
        dir,
        &library_file_name("toplevel"),
        &[],
    )
}

/// The C example as it was for ABI version 1, compiled against the version-1 header (both
/// kept verbatim in `plugins/tests-fixtures/v1/`) into `dir`.
fn toplevel_v1(dir: &Path) -> PathBuf {
    cc_against(
        "tests-fixtures/v1",
        "tests-fixtures/v1/toplevel.c",
        dir,
        &library_file_name("toplevel"),
        &[],
    )
}

/// The broken fixture, compiled into `dir` with `defines`, under its own file name (a library
/// is loaded once per path, so each mode needs its own).
fn broken(dir: &Path, file_name: &str, defines: &[&str]) -> PathBuf {
    cc("tests-fixtures/broken.c", dir, file_name, defines)
}

/// How many things the broken fixture at `path` handed the host that it has not released.
fn outstanding(path: &Path) -> std::ffi::c_long {
    fixture_count(path, b"spiro_test_outstanding")
}

/// How many configurations the broken fixture at `path` made that the host has not released.
fn configs(path: &Path) -> std::ffi::c_long {
    fixture_count(path, b"spiro_test_configs")
}

fn fixture_count(path: &Path, symbol: &[u8]) -> std::ffi::c_long {
    // SAFETY: the fixture's own test hooks, `long spiro_test_...(void)`.
    unsafe {
        let library = libloading::Library::new(path).unwrap();
        let count = library
            .get::<unsafe extern "C" fn() -> std::ffi::c_long>(symbol)
            .unwrap();
        count()
    }
}

// ---------------------------------------------------------------------------------------------
// Bundling through the library

/// Bundles what `scanner` yields under `_source/` and returns the members.
fn bundle(scanners: &[&dyn Scanner]) -> Result<Vec<Member>, Error> {
    let mut builder = Builder::new(Vec::new());
    for scanner in scanners {
        builder.add_source(*scanner)?;
    }
    Ok(read_tar(&builder.finish()?))
}

fn bundle_err(scanner: &dyn Scanner) -> String {
    let err = bundle(&[scanner]).expect_err("the bundle should fail");
    error_text(&err)
}

#[cfg(unix)]
fn symlink(target: &str, root: &Path, name: &str) {
    std::os::unix::fs::symlink(target, root.join(name)).unwrap();
}

#[cfg(unix)]
fn chmod(root: &Path, name: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A project for the manifest plugin: listed files, a listed directory with VCS metadata
/// inside, a symlink, a binary file, and files that are not listed.
fn manifest_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "_salt/top.sls", "base: {}\n");
    write(root, "app.py", "print('app')\n");
    write(root, "bin/run.sh", "#!/bin/sh\n");
    chmod(root, "bin/run.sh", 0o755);
    write(root, "static/css/site.css", "body {}\n");
    write(root, "static/logo.bin", [0u8, 159, 146, 150, 255]);
    write(root, "static/.git/config", "[secret]\n");
    write(root, "secret.env", "TOKEN=1\n");
    symlink("app.py", root, "current");
    write(
        root,
        ".spiromanifest",
        "# what to deploy\napp.py\nbin/run.sh\n\nstatic/\ncurrent\napp.py\n",
    );
    dir
}

#[test]
fn the_rust_manifest_plugin_bundles_exactly_what_it_lists() {
    let path = rust_plugin("manifest");
    let plugin = Plugin::load(&path).unwrap();
    let info = plugin.info();
    assert_eq!(info.name, "manifest");
    assert_eq!(info.abi_version, 2);
    assert_eq!(info.path, path);
    assert!(info.description.contains(".spiromanifest"), "{info:?}");

    let project = manifest_project();
    let scanner = plugin.scanner(project.path());
    assert_eq!(scanner.name(), "manifest");
    let members = bundle(&[&scanner]).unwrap();
    assert_eq!(
        names(&members),
        [
            "_source/app.py",
            "_source/bin/run.sh",
            "_source/static/css/site.css",
            "_source/static/logo.bin",
            "_source/current",
        ]
    );
    let app = member(&members, "_source/app.py");
    assert_eq!((app.kind, app.mode), ('0', 0o644));
    assert_eq!(app.content, b"print('app')\n");
    let run = member(&members, "_source/bin/run.sh");
    assert_eq!((run.kind, run.mode), ('0', 0o755));
    assert_eq!(run.content, b"#!/bin/sh\n");
    assert_eq!(
        member(&members, "_source/static/logo.bin").content,
        [0u8, 159, 146, 150, 255]
    );
    let current = member(&members, "_source/current");
    assert_eq!(current.kind, '2');
    assert_eq!(current.link.as_deref(), Some("app.py"));
    assert!(
        members
            .iter()
            .all(|m| m.owner == (0, 0, String::new(), String::new()))
    );
}

#[test]
fn the_c_toplevel_plugin_bundles_the_top_of_the_tree_and_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::load(toplevel(dir.path())).unwrap();
    assert_eq!(plugin.info().name, "toplevel");
    assert!(plugin.info().description.contains("written in C"));

    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    write(root, "b.sh", "#!/bin/sh\necho b\n");
    chmod(root, "b.sh", 0o750);
    write(root, "a.txt", "alpha\n");
    symlink("a.txt", root, "c-link");
    write(root, "sub/deep.txt", "not at the top\n");
    write(root, ".git/config", "x");
    let members = bundle(&[&plugin.scanner(root)]).unwrap();
    assert_eq!(
        names(&members),
        [
            "_source/a.txt",
            "_source/b.sh",
            "_source/c-link",
            "_source/.toplevel-index"
        ]
    );
    assert_eq!(member(&members, "_source/a.txt").content, b"alpha\n");
    assert_eq!(member(&members, "_source/a.txt").mode, 0o644);
    assert_eq!(member(&members, "_source/b.sh").mode, 0o755);
    assert_eq!(
        member(&members, "_source/b.sh").content,
        b"#!/bin/sh\necho b\n"
    );
    let link = member(&members, "_source/c-link");
    assert_eq!((link.kind, link.link.as_deref()), ('2', Some("a.txt")));
    assert_eq!(
        String::from_utf8_lossy(&member(&members, "_source/.toplevel-index").content),
        "6\ta.txt\n17\tb.sh\nlink\tc-link -> a.txt\n"
    );
}

#[test]
fn the_hosts_should_skip_reaches_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::load(toplevel(dir.path())).unwrap();
    let project = tempfile::tempdir().unwrap();
    write(project.path(), "keep", "k");
    write(project.path(), "drop", "d");
    let scanner = plugin.scanner(project.path());
    let skip = |c: &Candidate<'_>| c.path == Path::new("drop");
    let names: Vec<String> = scanner
        .scan(&skip)
        .unwrap()
        .map(|e| e.unwrap().name().to_string())
        .collect();
    assert_eq!(names, ["keep", ".toplevel-index"]);

    // Through the SDK too: the Rust fixture asks about `a` and `b`.
    let panicky = Plugin::load(rust_plugin("panicky")).unwrap();
    let root = tempfile::tempdir().unwrap();
    let ask = root.path().join("ask-twice");
    std::fs::create_dir(&ask).unwrap();
    let skip_a = |c: &Candidate<'_>| c.path == Path::new("a");
    let scanner = panicky.scanner(&ask);
    let names: Vec<String> = scanner
        .scan(&skip_a)
        .unwrap()
        .map(|e| e.unwrap().name().to_string())
        .collect();
    assert_eq!(names, ["b"]);

    // A panic in the host's callback comes back to the host once the plugin has returned;
    // it never unwinds through the plugin's frames.
    let caught = std::panic::catch_unwind(|| {
        let skip = |_: &Candidate<'_>| -> bool { panic!("host callback") };
        scanner.scan(&skip).map(|it| it.count())
    });
    assert!(caught.is_err());
}

#[test]
fn plugins_compose_with_built_ins_and_a_name_made_twice_names_both_scanners() {
    let dir = tempfile::tempdir().unwrap();
    let toplevel = Plugin::load(toplevel(dir.path())).unwrap();
    let manifest = Plugin::load(rust_plugin("manifest")).unwrap();

    // Disjoint trees compose.
    let a = tempfile::tempdir().unwrap();
    write(a.path(), ".spiromanifest", "lib/x.py\n");
    write(a.path(), "lib/x.py", "x\n");
    let b = tempfile::tempdir().unwrap();
    write(b.path(), "y.txt", "y\n");
    let members = bundle(&[&manifest.scanner(a.path()), &toplevel.scanner(b.path())]).unwrap();
    assert_eq!(
        names(&members),
        [
            "_source/lib/x.py",
            "_source/y.txt",
            "_source/.toplevel-index"
        ]
    );

    // The same file from the fs scanner and from a plugin.
    let fs = FsScanner::new(a.path());
    let err = bundle(&[&fs, &manifest.scanner(a.path())]).unwrap_err();
    assert!(matches!(err, Error::Duplicate { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("_source/lib/x.py"), "{text}");
    assert!(text.contains("scanner `fs`"), "{text}");
    assert!(text.contains("scanner `manifest`"), "{text}");
}

#[test]
fn everything_handed_to_the_host_is_given_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = broken(dir.path(), "libwell.so", &[]);
    let plugin = Plugin::load(&path).unwrap();
    let project = tempfile::tempdir().unwrap();

    // A bundle opens and reads every file.
    let members = bundle(&[&plugin.scanner(project.path())]).unwrap();
    assert_eq!(names(&members), ["_source/hello.txt", "_source/link"]);
    assert_eq!(member(&members, "_source/hello.txt").content, b"hello\n");
    assert_eq!(member(&members, "_source/hello.txt").mode, 0o755);
    assert_eq!(member(&members, "_source/hello.txt").mtime, 1_700_000_000);
    assert_eq!(outstanding(&path), 0);

    // A listing opens nothing: the entries are released instead.
    let mut listing = Builder::listing(Vec::new());
    listing.add_source(&plugin.scanner(project.path())).unwrap();
    assert_eq!(
        listing.finish().unwrap(),
        b"_source/hello.txt\n_source/link\n"
    );
    assert_eq!(outstanding(&path), 0);

    // Entries and readers may outlive the iterator; the scan is freed after the last of them.
    let scanner = plugin.scanner(project.path());
    let skip = |_: &Candidate<'_>| false;
    let mut entries = scanner.scan(&skip).unwrap();
    let first = entries.next().unwrap().unwrap();
    drop(entries);
    assert!(outstanding(&path) > 0);
    let (_, EntryKind::File { open, .. }, _) = first.into_parts() else {
        panic!("the first entry is a file");
    };
    let mut reader = open().unwrap();
    let mut content = Vec::new();
    io::Read::read_to_end(&mut reader, &mut content).unwrap();
    assert_eq!(content, b"hello\n");
    drop(reader);
    assert_eq!(outstanding(&path), 0);

    // Errors too are given back.
    let failing = broken(dir.path(), "libfailing.so", &["-DREAD_FAILS"]);
    let failing = Plugin::load(failing).unwrap();
    assert!(bundle(&[&failing.scanner(project.path())]).is_err());
    assert_eq!(outstanding(&failing.info().path), 0);

    // A configuration lives as long as its scanner (and the scans started with it), and is
    // released once; a refused one was never handed over.
    assert_eq!(configs(&path), 1);
    let clone = scanner.clone();
    drop(scanner);
    assert_eq!(configs(&path), 1);
    assert_eq!(clone.scan(&skip).unwrap().count(), 2);
    drop(clone);
    assert_eq!((configs(&path), outstanding(&path)), (0, 0));
    let refused =
        plugin.scanner_with_options(project.path(), &ScannerOptions::new().set("level", "9"));
    assert!(matches!(refused, Err(OptionError::Refused { .. })));
    assert_eq!((configs(&path), outstanding(&path)), (0, 0));
}

// ---------------------------------------------------------------------------------------------
// Memory

/// Bundles a large file through each example plugin into a sink, in a child process, and
/// checks that its peak memory barely moved: content crosses the ABI in chunks, never whole.
#[test]
#[cfg(target_os = "linux")]
fn memory_stays_flat_with_plugins() {
    const SIZE: u64 = 512 << 20;
    let dir = tempfile::tempdir().unwrap();
    let huge = broken(dir.path(), "libhuge.so", &[&format!("-DHUGE={SIZE}")]);
    let project = tempfile::tempdir().unwrap();
    std::fs::File::create(project.path().join("big.bin"))
        .unwrap()
        .set_len(SIZE)
        .unwrap();
    write(project.path(), ".spiromanifest", "big.bin\n");
    let manifest = rust_plugin("manifest");
    for plugin in [huge, manifest] {
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "memory_probe", "--ignored", "--nocapture"])
            .env("SPIRO_PROBE_PLUGIN", &plugin)
            .env("SPIRO_PROBE_ROOT", project.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("PROBE "))
            .unwrap_or_else(|| panic!("no probe line in {stdout}"));
        let numbers: Vec<u64> = line.split(' ').map(|n| n.parse().unwrap()).collect();
        let (before_kb, after_kb, bytes) = (numbers[0], numbers[1], numbers[2]);
        assert_eq!(bytes, SIZE, "{}", plugin.display());
        assert!(
            after_kb - before_kb < 32 * 1024,
            "peak memory grew by {} KiB bundling {} MiB through {}",
            after_kb - before_kb,
            SIZE >> 20,
            plugin.display()
        );
    }
}

/// Run by [`memory_stays_flat_with_plugins`] in a child process.
#[test]
#[ignore = "a helper of memory_stays_flat_with_plugins"]
#[cfg(target_os = "linux")]
fn memory_probe() {
    let (Some(plugin), Some(root)) = (
        std::env::var_os("SPIRO_PROBE_PLUGIN"),
        std::env::var_os("SPIRO_PROBE_ROOT"),
    ) else {
        return;
    };
    fn peak_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
    struct Counter(u64);
    impl Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let plugin = Plugin::load(PathBuf::from(plugin)).unwrap();
    let scanner = plugin.scanner(PathBuf::from(root));
    let before = peak_kb();
    let mut builder = Builder::new(Counter(0));
    builder.add_source(&scanner).unwrap();
    let content = builder.stats().content_bytes;
    builder.finish().unwrap();
    let after = peak_kb();
    println!("PROBE {before} {after} {content}");
}

// ---------------------------------------------------------------------------------------------
// Bad input: loading

#[test]
fn a_file_that_is_not_a_shared_library_is_refused_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(library_file_name("text"));
    std::fs::write(&path, "this is a text file\n").unwrap();
    let err = Plugin::load(&path).unwrap_err();
    assert!(matches!(err, LoadError::NotALibrary { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("not a shared library"), "{err}");
}

#[test]
fn a_library_without_the_entry_symbol_is_refused_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = broken(dir.path(), "libnosym.so", &["-DNO_ENTRY_SYMBOL"]);
    let err = Plugin::load(&path).unwrap_err();
    assert!(matches!(err, LoadError::MissingSymbol { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("spiro_scanner_plugin"), "{text}");
}

#[test]
fn an_abi_version_out_of_range_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    for (version, file) in [("999", "lib999.so"), ("0", "lib0.so"), ("3", "lib3.so")] {
        let path = broken(dir.path(), file, &[&format!("-DABI={version}")]);
        let err = Plugin::load(&path).unwrap_err();
        assert!(matches!(err, LoadError::UnsupportedAbi { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(&format!("ABI version {version}")), "{text}");
        assert!(text.contains("supports ABI versions 1 to 2"), "{text}");
    }
}

#[test]
fn malformed_descriptors_are_refused_by_path() {
    let dir = tempfile::tempdir().unwrap();
    for (defines, file, expected) in [
        (
            &["-DSTRUCT_SIZE=8"][..],
            "libsmall.so",
            "descriptor of 8 bytes",
        ),
        (
            &["-DNULL_READ"][..],
            "libnullread.so",
            "`read` function is NULL",
        ),
        (
            &["-DNULL_DESCRIPTOR"][..],
            "libnulldesc.so",
            "returned no descriptor",
        ),
        (
            &["-DPLUGIN_NAME=\"a b\""][..],
            "libbadname.so",
            "its name \"a b\"",
        ),
        (
            &["-DNULL_OPTION_TABLE"][..],
            "libnulloptions.so",
            "its option table is NULL with a count of 2",
        ),
        (
            &["-DOPTION_NAME=\"\\xff\""][..],
            "libnonutf8option.so",
            "the name of its option 1 is not UTF-8",
        ),
        (
            &["-DOPTION_NAME=\"a=b\""][..],
            "libbadoption.so",
            "its option 1 is called \"a=b\"",
        ),
        (
            &["-DNULL_CONFIGURE"][..],
            "libnullconfigure.so",
            "`configure` function is NULL",
        ),
    ] {
        let path = broken(dir.path(), file, defines);
        let text = Plugin::load(&path).unwrap_err().to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(expected), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input: scanning and reading

/// An error about a plugin must name the plugin's file, so the user knows which to fix.
fn assert_names_plugin(text: &str, plugin: &Plugin) {
    let path = plugin.info().path.display().to_string();
    assert!(text.contains(&path), "{text}");
}

fn load_broken(dir: &Path, file: &str, defines: &[&str]) -> Plugin {
    Plugin::load(broken(dir, file, defines)).unwrap()
}

#[test]
fn a_failing_scan_is_the_plugins_error() {
    let dir = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    for (defines, file, expected) in [
        (
            &["-DSCAN_FAILS"][..],
            "libscan.so",
            "cannot reach the artifact server",
        ),
        (&["-DNEXT_FAILS"][..], "libnext.so", "the listing broke off"),
        (
            &["-DBAD_STATUS"][..],
            "libstatus.so",
            "broke the scanner ABI",
        ),
    ] {
        let plugin = load_broken(dir.path(), file, defines);
        let text = bundle_err(&plugin.scanner(project.path()));
        assert!(text.contains("scanner `broken (plugin "), "{text}");
        assert_names_plugin(&text, &plugin);
        assert!(text.contains(expected), "{text}");
        assert_eq!(outstanding(&plugin.info().path), 0, "{file}");
    }
}

#[test]
fn a_read_that_fails_part_way_is_the_plugins_error_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let plugin = load_broken(dir.path(), "libread.so", &["-DREAD_FAILS"]);
    let err = bundle(&[&plugin.scanner(project.path())]).unwrap_err();
    assert!(
        matches!(err, Error::Scan(ScanError::Scanner { .. })),
        "{err:?}"
    );
    let text = error_text(&err);
    assert_names_plugin(&text, &plugin);
    assert!(
        text.contains("cannot read `hello.txt`: the disk is on fire"),
        "{text}"
    );

    let liar = load_broken(dir.path(), "liar.so", &["-DSIZE_LIE"]);
    let err = bundle(&[&liar.scanner(project.path())]).unwrap_err();
    assert!(matches!(err, Error::SizeChanged { .. }), "{err:?}");
}

#[test]
fn a_panicking_rust_plugin_is_an_error_not_a_crash() {
    let plugin = Plugin::load(rust_plugin("panicky")).unwrap();
    let roots = tempfile::tempdir().unwrap();
    for (mode, expected) in [
        ("panic-in-new", "panicked: the constructor gave up at "),
        ("panic-in-scan", "panicked: the scan could not start at "),
        ("panic-in-next", "panicked: the iterator broke at "),
        ("panic-in-read", "panicked: the reader fell over at "),
    ] {
        let root = roots.path().join(mode);
        std::fs::create_dir(&root).unwrap();
        let text = bundle_err(&plugin.scanner(&root));
        assert!(text.contains(expected), "{mode}: {text}");
        assert!(text.contains("src/lib.rs"), "{mode}: {text}");
        assert_names_plugin(&text, &plugin);
    }
    // The plugin still works afterwards.
    let root = roots.path().join("fine");
    std::fs::create_dir(&root).unwrap();
    let members = bundle(&[&plugin.scanner(&root)]).unwrap();
    assert_eq!(member(&members, "_source/ok.txt").content, b"ok\n");
}

#[test]
fn unsafe_names_from_a_plugin_are_refused_naming_plugin_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    for (i, (name, shown, reason)) in [
        ("/etc/passwd", "\"/etc/passwd\"", "absolute"),
        ("../escape", "\"../escape\"", "`..` component"),
        ("a/../../b", "\"a/../../b\"", "`..` component"),
        ("", "\"\"", "empty"),
        ("a\\0b", "\"a\\0b\"", "NUL"),
    ]
    .into_iter()
    .enumerate()
    {
        let plugin = load_broken(
            dir.path(),
            &format!("libname{i}.so"),
            &[&format!("-DBAD_NAME=\"{name}\"")],
        );
        let err = bundle(&[&plugin.scanner(project.path())]).unwrap_err();
        assert!(
            matches!(err, Error::Scan(ScanError::UnsafeName { .. })),
            "{err:?}"
        );
        let text = err.to_string();
        assert_names_plugin(&text, &plugin);
        assert!(text.contains(shown), "{text}");
        assert!(text.contains(reason), "{text}");
        assert_eq!(outstanding(&plugin.info().path), 0, "{name}");
    }
}

#[test]
fn the_same_name_twice_from_one_plugin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let plugin = load_broken(dir.path(), "libdup.so", &["-DDUPLICATE"]);
    let text = bundle_err(&plugin.scanner(project.path()));
    assert_names_plugin(&text, &plugin);
    assert!(text.contains("yielded `hello.txt` twice"), "{text}");
    assert_eq!(outstanding(&plugin.info().path), 0);
}

/// The broken fixture modes that misuse the `should_skip` context or lie about a message's
/// length, each with what its error must say. On a host that trusted them, the first three made
/// it dereference a dead, foreign or made-up pointer and the last two build slices of `SIZE_MAX`
/// bytes.
fn misbehaving_plugins(dir: &Path) -> Vec<(PathBuf, String)> {
    [
        (
            &["-DLATE_CALLBACK"][..],
            "liblate.so",
            "broke the scanner ABI: called should_skip outside scan_next".to_owned(),
        ),
        (
            &["-DTHREAD_CALLBACK", "-pthread"][..],
            "libthread.so",
            "broke the scanner ABI: called should_skip from another thread".to_owned(),
        ),
        (
            &["-DFORGED_CALLBACK"][..],
            "libforged.so",
            "broke the scanner ABI: called should_skip with a context the host never passed"
                .to_owned(),
        ),
        (
            &["-DHUGE_NAME"][..],
            "libname.so",
            format!(
                "broke the scanner ABI: yielded an entry whose name or target claims {} bytes \
                 (at most 65536 allowed)",
                usize::MAX
            ),
        ),
        (
            &["-DSCAN_FAILS", "-DHUGE_MESSAGE"][..],
            "libmessage.so",
            format!(
                "cannot reach the artifact server{}... (cut at 4096 of the {} bytes the plugin \
                 claims)",
                "x".repeat(4096 - "cannot reach the artifact server".len()),
                usize::MAX
            ),
        ),
    ]
    .into_iter()
    .map(|(defines, file, expected)| (broken(dir, file, defines), expected))
    .collect()
}

#[test]
fn a_late_or_cross_thread_callback_or_a_lying_message_is_the_plugins_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    for (path, expected) in misbehaving_plugins(dir.path()) {
        let plugin = Plugin::load(&path).unwrap();
        let text = bundle_err(&plugin.scanner(project.path()));
        assert_names_plugin(&text, &plugin);
        assert!(text.contains(&expected), "{text}");
        assert_eq!(outstanding(&path), 0, "{}", path.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Discovery

#[test]
fn discovery_searches_the_path_in_order_and_says_why_it_refuses() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let top = toplevel(second.path());
    toplevel(first.path().join("sub").as_path().parent().unwrap());
    let shadowed = second.path().join(library_file_name("toplevel"));
    let first_top = first.path().join(library_file_name("toplevel"));
    assert_eq!(top, shadowed);
    broken(
        first.path(),
        &library_file_name("old"),
        &["-DABI=999", "-DPLUGIN_NAME=\"old\""],
    );
    broken(first.path(), &library_file_name("other"), &[]); // calls itself `broken`
    std::fs::write(first.path().join(library_file_name("text")), "text").unwrap();
    std::fs::write(first.path().join("README"), "not a plugin").unwrap();
    let search = SearchPath::from_dirs([
        first.path().to_path_buf(),
        PathBuf::from("/nonexistent/plugins"),
        second.path().to_path_buf(),
    ]);

    let found = search.find("toplevel").unwrap().unwrap();
    assert_eq!(found.info().path, first_top);
    assert!(search.find("nothere").unwrap().is_none());
    let err = search.resolve("nothere").unwrap_err().to_string();
    assert!(err.contains(&library_file_name("nothere")), "{err}");
    assert!(err.contains(&first.path().display().to_string()), "{err}");
    let err = search.find("old").unwrap_err();
    assert!(
        matches!(err, LoadError::UnsupportedAbi { found: 999, .. }),
        "{err}"
    );
    let err = search.find("other").unwrap_err();
    assert!(matches!(err, LoadError::NameMismatch { .. }), "{err}");
    // A value with a separator is a file, loaded as is.
    let direct = search.find(shadowed.to_str().unwrap()).unwrap().unwrap();
    assert_eq!(direct.info().path, shadowed);

    let candidates = search.discover();
    let summary: Vec<(String, bool, bool)> = candidates
        .iter()
        .map(|c| (c.name.clone(), c.plugin.is_ok(), c.shadowed_by.is_some()))
        .collect();
    assert_eq!(
        summary,
        [
            ("old".to_owned(), false, false),
            ("other".to_owned(), false, false),
            ("text".to_owned(), false, false),
            ("toplevel".to_owned(), true, false),
            ("toplevel".to_owned(), true, true),
        ]
    );

    // The listing, as `--list-scanners` prints it from what the host discovers; a third
    // directory holds a plugin that takes a built-in scanner's name.
    let twins = tempfile::tempdir().unwrap();
    broken(
        twins.path(),
        &library_file_name("git"),
        &["-DPLUGIN_NAME=\"git\""],
    );
    let dirs = std::env::join_paths([
        first.path(),
        Path::new("/nonexistent/plugins"),
        second.path(),
        twins.path(),
    ])
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let output = cli(first.path(), None, data.path())
        .env("SPIRO_PLUGIN_PATH", dirs)
        .arg("--list-scanners")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let all = lines.join("\n");
    assert!(
        lines[0].starts_with("fs") && lines[0].contains("built-in  every file"),
        "{all}"
    );
    let line = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle} in\n{all}"))
            .to_string()
    };
    let top_line = line(&first_top.display().to_string());
    assert!(top_line.contains("plugin"), "{top_line}");
    assert!(top_line.contains("(ABI 2, "), "{top_line}");
    assert!(top_line.contains("written in C"), "{top_line}");
    let shadowed_line = line(&format!("{}); shadowed by", shadowed.display()));
    assert!(
        shadowed_line.contains(&first_top.display().to_string()),
        "{shadowed_line}"
    );
    let twin = line(&twins.path().display().to_string());
    assert!(twin.starts_with("git "), "{twin}");
    assert!(twin.contains("the built-in scanner comes first"), "{twin}");
    let old = line("old ");
    assert!(
        old.contains("refused") && old.contains("ABI version 999"),
        "{old}"
    );
    let text = line(&format!("{}`: not a shared", library_file_name("text")));
    assert!(text.contains("refused"), "{text}");
    assert!(line("plugin directories searched:").contains("/nonexistent/plugins"));
}

// ---------------------------------------------------------------------------------------------
// The ABI mirror

/// Every size and offset of the Rust mirror equals the C header's, as the system C compiler
/// lays it out.
#[test]
fn the_rust_mirror_matches_the_c_header() {
    use spiro_plugin_abi::{
        SpiroEntry, SpiroOption, SpiroOptionInfo, SpiroScannerPlugin, SpiroString,
    };
    use std::mem::{offset_of, size_of};
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("layout.c");
    std::fs::write(
        &source,
        r#"
#include <stdio.h>
#include <stddef.h>
#include "spiro_scanner.h"
#define F(T, f) printf(#T "." #f " %zu\n", offsetof(T, f));
int main(void) {
    printf("SpiroEntry %zu\nSpiroScannerPlugin %zu\nSpiroString %zu\n",
           sizeof(SpiroEntry), sizeof(SpiroScannerPlugin), sizeof(SpiroString));
    printf("SpiroOptionInfo %zu\nSpiroOption %zu\n", sizeof(SpiroOptionInfo), sizeof(SpiroOption));
    F(SpiroOptionInfo, name) F(SpiroOptionInfo, name_len) F(SpiroOptionInfo, description)
    F(SpiroOptionInfo, description_len) F(SpiroOptionInfo, default_value)
    F(SpiroOptionInfo, default_value_len)
    F(SpiroOption, key) F(SpiroOption, key_len) F(SpiroOption, value) F(SpiroOption, value_len)
    F(SpiroEntry, id) F(SpiroEntry, name) F(SpiroEntry, name_len) F(SpiroEntry, kind)
    F(SpiroEntry, mode) F(SpiroEntry, size) F(SpiroEntry, mtime) F(SpiroEntry, target)
    F(SpiroEntry, target_len)
    F(SpiroScannerPlugin, abi_version) F(SpiroScannerPlugin, struct_size)
    F(SpiroScannerPlugin, name) F(SpiroScannerPlugin, name_len)
    F(SpiroScannerPlugin, description) F(SpiroScannerPlugin, description_len)
    F(SpiroScannerPlugin, scan_start) F(SpiroScannerPlugin, scan_next)
    F(SpiroScannerPlugin, entry_release) F(SpiroScannerPlugin, open) F(SpiroScannerPlugin, read)
    F(SpiroScannerPlugin, reader_free) F(SpiroScannerPlugin, scan_free)
    F(SpiroScannerPlugin, string_free) F(SpiroScannerPlugin, options)
    F(SpiroScannerPlugin, option_count) F(SpiroScannerPlugin, configure)
    F(SpiroScannerPlugin, config_free) F(SpiroScannerPlugin, scan_start_configured)
    printf("ABI %u\nOK %d\nEND %d\nERROR %d\nFILE %u\nSYMLINK %u\nSYMBOL %s\n",
           SPIRO_SCANNER_ABI_VERSION, SPIRO_OK, SPIRO_END, SPIRO_ERROR, SPIRO_KIND_FILE,
           SPIRO_KIND_SYMLINK, SPIRO_SCANNER_ENTRY_SYMBOL);
    return 0;
}
"#,
    )
    .unwrap();
    let exe = dir.path().join("layout");
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let status = Command::new(compiler)
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(workspace_root().join("plugins/include"))
        .arg("-o")
        .arg(&exe)
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    let output = Command::new(&exe).output().unwrap();
    let c = String::from_utf8(output.stdout).unwrap();

    macro_rules! fields {
        ($t:ident: $($f:ident),*) => {
            vec![$(format!(concat!(stringify!($t), ".", stringify!($f), " {}"), offset_of!($t, $f))),*]
        };
    }
    let mut rust = vec![
        format!("SpiroEntry {}", size_of::<SpiroEntry>()),
        format!("SpiroScannerPlugin {}", size_of::<SpiroScannerPlugin>()),
        format!("SpiroString {}", size_of::<SpiroString>()),
        format!("SpiroOptionInfo {}", size_of::<SpiroOptionInfo>()),
        format!("SpiroOption {}", size_of::<SpiroOption>()),
    ];
    rust.extend(
        fields!(SpiroOptionInfo: name, name_len, description, description_len,
        default_value, default_value_len),
    );
    rust.extend(fields!(SpiroOption: key, key_len, value, value_len));
    rust.extend(
        fields!(SpiroEntry: id, name, name_len, kind, mode, size, mtime, target, target_len),
    );
    rust.extend(
        fields!(SpiroScannerPlugin: abi_version, struct_size, name, name_len, description,
        description_len, scan_start, scan_next, entry_release, open, read, reader_free, scan_free,
        string_free, options, option_count, configure, config_free, scan_start_configured),
    );
    rust.extend([
        format!("ABI {}", spiro_plugin_abi::ABI_VERSION),
        format!("OK {}", spiro_plugin_abi::SPIRO_OK),
        format!("END {}", spiro_plugin_abi::SPIRO_END),
        format!("ERROR {}", spiro_plugin_abi::SPIRO_ERROR),
        format!("FILE {}", spiro_plugin_abi::SPIRO_KIND_FILE),
        format!("SYMLINK {}", spiro_plugin_abi::SPIRO_KIND_SYMLINK),
        format!("SYMBOL {}", spiro_plugin_abi::ENTRY_SYMBOL),
    ]);
    assert_eq!(c.lines().collect::<Vec<_>>(), rust);
}

// ---------------------------------------------------------------------------------------------
// Through the CLI

/// `spiro-deploy` run in `dir` with only `plugin_path` to find plugins (and an empty per-user
/// directory).
fn cli(dir: &Path, plugin_path: Option<&Path>, data_home: &Path) -> Command {
    let mut cmd = Command::new(spiro_deploy_bin());
    cmd.current_dir(dir)
        .env_remove("SPIRO_URL")
        .env_remove("SPIRO_TOKEN")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("SPIRO_PLUGIN_PATH")
        .env("XDG_DATA_HOME", data_home)
        .env("NO_COLOR", "1");
    if let Some(path) = plugin_path {
        cmd.env("SPIRO_PLUGIN_PATH", path);
    }
    cmd
}

fn cli_bundle(cmd: &mut Command, out: &Path) -> Vec<Member> {
    let output = cmd
        .arg("--output")
        .arg(out)
        .args(["p", "d"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "spiro-deploy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    read_tar(&std::fs::read(out).unwrap())
}

fn cli_fails(cmd: &mut Command) -> String {
    let output = cmd.args(["--output", "-", "p", "d"]).output().unwrap();
    assert!(!output.status.success(), "spiro-deploy should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A plugin directory with both examples and a refused plugin.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        rust_plugin("manifest"),
        dir.path().join(library_file_name("manifest")),
    )
    .unwrap();
    toplevel(dir.path());
    broken(
        dir.path(),
        &library_file_name("old"),
        &["-DABI=999", "-DPLUGIN_NAME=\"old\""],
    );
    dir
}

#[test]
fn cli_includes_plugins_by_name_and_by_path_and_composes_them() {
    let plugins = plugin_dir();
    let data = tempfile::tempdir().unwrap();
    let project = manifest_project();
    let out = tempfile::tempdir().unwrap();
    let panicky = rust_plugin("panicky");
    let members = cli_bundle(
        cli(project.path(), Some(plugins.path()), data.path())
            .arg("--include-source=manifest")
            .arg(format!("--include-source={}", panicky.display())),
        &out.path().join("b.tar"),
    );
    assert_eq!(
        names(&members),
        [
            "top.sls",
            "_source/app.py",
            "_source/bin/run.sh",
            "_source/static/css/site.css",
            "_source/static/logo.bin",
            "_source/current",
            "_source/ok.txt",
        ]
    );
    assert_eq!(member(&members, "_source/bin/run.sh").mode, 0o755);
    assert_eq!(
        member(&members, "_source/current").link.as_deref(),
        Some("app.py")
    );
    assert_eq!(member(&members, "_source/ok.txt").content, b"ok\n");
}

#[test]
fn cli_finds_plugins_in_the_per_user_directory_and_never_in_the_working_directory() {
    let data = tempfile::tempdir().unwrap();
    let user_dir = data.path().join("spiro-deploy/plugins");
    std::fs::create_dir_all(&user_dir).unwrap();
    toplevel(&user_dir);
    let project = tempfile::tempdir().unwrap();
    write(project.path(), "_salt/top.sls", "base: {}\n");
    write(project.path(), "hello.txt", "hi\n");
    let out = tempfile::tempdir().unwrap();
    let members = cli_bundle(
        cli(project.path(), None, data.path()).arg("--include-source=toplevel"),
        &out.path().join("b.tar"),
    );
    assert_eq!(
        names(&members),
        ["top.sls", "_source/hello.txt", "_source/.toplevel-index"]
    );

    // A plugin in the working directory is not found, even with an empty SPIRO_PLUGIN_PATH
    // entry, which some tools read as "here".
    let empty = tempfile::tempdir().unwrap();
    toplevel(project.path());
    let stderr = cli_fails(
        cli(project.path(), None, empty.path())
            .env("SPIRO_PLUGIN_PATH", ":")
            .arg("--include-source=toplevel"),
    );
    assert!(stderr.contains("toplevel"), "{stderr}");
    assert!(stderr.contains(&library_file_name("toplevel")), "{stderr}");
}

#[test]
fn cli_reports_bad_plugins_naming_their_path() {
    let plugins = plugin_dir();
    let data = tempfile::tempdir().unwrap();
    let project = manifest_project();
    let old = plugins.path().join(library_file_name("old"));
    let stderr = cli_fails(
        cli(project.path(), Some(plugins.path()), data.path()).arg("--include-source=old"),
    );
    assert!(stderr.contains(&old.display().to_string()), "{stderr}");
    assert!(stderr.contains("ABI version 999"), "{stderr}");

    let stderr = cli_fails(
        cli(project.path(), Some(plugins.path()), data.path())
            .arg("--include-source=fs")
            .arg("--include-source=manifest"),
    );
    assert!(stderr.contains("_source/app.py"), "{stderr}");
    assert!(
        stderr.contains("`fs`") && stderr.contains("`manifest`"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let read_fails = broken(dir.path(), "libreadfails.so", &["-DREAD_FAILS"]);
    let stderr = cli_fails(
        cli(project.path(), None, data.path())
            .arg(format!("--include-source={}", read_fails.display())),
    );
    assert!(
        stderr.contains(&read_fails.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("the disk is on fire"), "{stderr}");
}

#[test]
fn cli_fails_with_status_3_naming_a_plugin_that_misuses_its_callback_or_lies() {
    let data = tempfile::tempdir().unwrap();
    let project = manifest_project();
    let dir = tempfile::tempdir().unwrap();
    for (path, expected) in misbehaving_plugins(dir.path()) {
        let output = cli(project.path(), None, data.path())
            .arg(format!("--include-source={}", path.display()))
            .args(["--output", "-", "p", "d"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(stderr.contains(&expected), "{stderr}");
    }
}

#[test]
fn cli_lists_scanners_and_plugins_with_reasons() {
    let plugins = plugin_dir();
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let output = cli(project.path(), Some(plugins.path()), data.path())
        .arg("--list-scanners")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |needle: &str| {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{stdout}"))
    };
    assert!(line("fs ").contains("built-in"), "{stdout}");
    assert!(line("git ").contains("built-in"), "{stdout}");
    let manifest = line("manifest ");
    assert!(manifest.contains(".spiromanifest"), "{manifest}");
    assert!(manifest.contains("ABI 2"), "{manifest}");
    let manifest_path = plugins.path().join(library_file_name("manifest"));
    assert!(
        manifest.contains(&manifest_path.display().to_string()),
        "{manifest}"
    );
    assert!(line("toplevel ").contains("written in C"), "{stdout}");
    let old = line("old ");
    assert!(
        old.contains("refused") && old.contains("ABI version 999"),
        "{old}"
    );
}

// ---------------------------------------------------------------------------------------------
// Options (ABI version 2) and version-1 plugins

fn options(pairs: &[(&str, &str)]) -> ScannerOptions {
    pairs
        .iter()
        .fold(ScannerOptions::new(), |o, (k, v)| o.set(*k, *v))
}

fn scan_names(scanner: &dyn Scanner) -> Vec<String> {
    scanner
        .scan(&|_| false)
        .unwrap()
        .map(|e| e.unwrap().name().to_string())
        .collect()
}

/// A project for the toplevel plugin: a dotfile, a small and a large file, a directory.
fn toplevel_project() -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    write(root, ".env", "A=1\n");
    write(root, "small.txt", "tiny\n");
    write(root, "large.bin", vec![b'x'; 4096]);
    write(root, "sub/deep.txt", "not at the top\n");
    project
}

#[test]
fn the_c_plugin_declares_its_options_and_takes_them_given_or_defaulted() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::load(toplevel(dir.path())).unwrap();
    let info = plugin.info();
    assert_eq!(info.abi_version, 2);
    let declared: Vec<(&str, &str)> = info
        .options
        .iter()
        .map(|o| (&*o.name, &*o.default))
        .collect();
    assert_eq!(declared, [("hidden", "true"), ("max-size", "none")]);
    assert!(
        info.options[1].description.contains("larger than"),
        "{info:?}"
    );

    let project = toplevel_project();
    let root = project.path();
    // Defaulted: what the plugin did before it took options.
    let all = [".env", "large.bin", "small.txt", ".toplevel-index"];
    assert_eq!(scan_names(&plugin.scanner(root)), all);
    let defaulted = plugin
        .scanner_with_options(root, &ScannerOptions::new())
        .unwrap();
    assert_eq!(scan_names(&defaulted), all);
    // Given.
    let given = plugin
        .scanner_with_options(root, &options(&[("hidden", "false"), ("max-size", "100")]))
        .unwrap();
    assert_eq!(scan_names(&given), ["small.txt", ".toplevel-index"]);
    let members = bundle(&[&given]).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&member(&members, "_source/.toplevel-index").content),
        "5\tsmall.txt\n"
    );
    // One configuration, several scans.
    assert_eq!(scan_names(&given), ["small.txt", ".toplevel-index"]);
}

#[test]
fn the_c_plugin_refuses_a_bad_value_with_its_own_message_and_the_host_an_undeclared_option() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::load(toplevel(dir.path())).unwrap();
    let root = tempfile::tempdir().unwrap();

    let refused = plugin
        .scanner_with_options(root.path(), &options(&[("max-size", "big")]))
        .unwrap_err();
    let OptionError::Refused {
        scanner,
        message,
        accepted,
    } = &refused
    else {
        panic!("{refused:?}");
    };
    assert_eq!(scanner, "toplevel");
    assert_eq!(
        message,
        "option `max-size` must be a number of bytes or `none`, not `big`"
    );
    assert_eq!(accepted.len(), 2);
    let text = refused.to_string();
    assert!(
        text.starts_with("scanner `toplevel` refused its options: option `max-size` must be"),
        "{text}"
    );
    assert!(text.contains("it takes: `hidden` ("), "{text}");

    let unknown = plugin
        .scanner_with_options(root.path(), &options(&[("hiden", "false")]))
        .unwrap_err();
    assert!(
        matches!(unknown, OptionError::Unknown { .. }),
        "{unknown:?}"
    );
    let text = unknown.to_string();
    assert!(
        text.starts_with("scanner `toplevel` has no option `hiden`; it takes: `hidden`"),
        "{text}"
    );
    assert!(
        text.contains("`max-size` (leave out files larger"),
        "{text}"
    );

    // A value the C side could not see past is refused before it gets there.
    let nul = plugin
        .scanner_with_options(root.path(), &options(&[("max-size", "1\0")]))
        .unwrap_err();
    assert!(matches!(nul, OptionError::Invalid { .. }), "{nul:?}");
}

#[test]
fn the_rust_sdk_reads_declares_and_refuses_options() {
    let plugin = Plugin::load(rust_plugin("manifest")).unwrap();
    let declared: Vec<(&str, &str)> = plugin
        .info()
        .options
        .iter()
        .map(|o| (&*o.name, &*o.default))
        .collect();
    assert_eq!(declared, [("file", ".spiromanifest")]);

    let project = manifest_project();
    write(project.path(), "deploy/web.list", "app.py\ncurrent\n");
    let web = plugin
        .scanner_with_options(project.path(), &options(&[("file", "deploy/web.list")]))
        .unwrap();
    assert_eq!(scan_names(&web), ["app.py", "current"]);

    // Refused with the plugin's own message, in the shared words.
    let refused = plugin
        .scanner_with_options(project.path(), &options(&[("file", "../elsewhere")]))
        .unwrap_err();
    assert!(
        matches!(refused, OptionError::Refused { .. }),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "scanner `manifest` refused its options: option `file` must be a relative path inside \
         the project (no leading `/`, no `..`), not `../elsewhere`; it takes: `file` (the list \
         of paths to bundle, relative to the project; default: .spiromanifest)"
    );

    // A panic while reading options stays in the plugin and is its refusal.
    let panicky = Plugin::load(rust_plugin("panicky")).unwrap();
    let err = panicky
        .scanner_with_options(project.path(), &options(&[("mode", "panic-in-options")]))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("refused its options: panicked: the options were too much at "),
        "{text}"
    );
    // Given, the option overrides the default (the root directory's name).
    let ask = panicky
        .scanner_with_options(project.path(), &options(&[("mode", "ask-twice")]))
        .unwrap();
    assert_eq!(scan_names(&ask), ["a", "b"]);
    assert_eq!(scan_names(&panicky.scanner(project.path())), ["ok.txt"]);
}

#[test]
fn a_version_1_plugin_loads_works_and_takes_no_options() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::load(toplevel_v1(dir.path())).unwrap();
    let info = plugin.info();
    assert_eq!((info.name.as_str(), info.abi_version), ("toplevel", 1));
    assert!(info.options.is_empty());

    let project = toplevel_project();
    let scanner = plugin.scanner(project.path());
    let members = bundle(&[&scanner]).unwrap();
    assert_eq!(
        names(&members),
        [
            "_source/.env",
            "_source/large.bin",
            "_source/small.txt",
            "_source/.toplevel-index"
        ]
    );
    assert_eq!(member(&members, "_source/small.txt").content, b"tiny\n");
    let mut listing = Builder::listing(Vec::new());
    listing.add_source(&scanner).unwrap();
    assert_eq!(
        String::from_utf8(listing.finish().unwrap()).unwrap(),
        "_source/.env\n_source/large.bin\n_source/small.txt\n_source/.toplevel-index\n"
    );
    // No options is fine; any option is unknown, in the shared words.
    assert!(
        plugin
            .scanner_with_options(project.path(), &ScannerOptions::new())
            .is_ok()
    );
    let err = plugin
        .scanner_with_options(project.path(), &options(&[("hidden", "false")]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "scanner `toplevel` has no option `hidden`; it takes no options"
    );
}

#[test]
fn a_plugin_that_refuses_its_defaults_fails_its_scans_and_is_a_usage_error_in_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let path = broken(dir.path(), "librequired.so", &["-DREQUIRE_LEVEL"]);
    let plugin = Plugin::load(&path).unwrap();
    let project = tempfile::tempdir().unwrap();
    let text = bundle_err(&plugin.scanner(project.path()));
    assert_names_plugin(&text, &plugin);
    assert!(
        text.contains("scanner `broken` refused its options: give me a `level`"),
        "{text}"
    );
    let given = plugin
        .scanner_with_options(project.path(), &options(&[("level", "2")]))
        .unwrap();
    assert_eq!(scan_names(&given), ["hello.txt", "link"]);
    drop(given);
    assert_eq!((configs(&path), outstanding(&path)), (0, 0));

    let data = tempfile::tempdir().unwrap();
    write(project.path(), "_salt/top.sls", "base: {}\n");
    let stderr = cli_usage_error(
        cli(project.path(), None, data.path()).arg(format!("--include-source={}", path.display())),
    );
    assert!(stderr.contains("give me a `level`"), "{stderr}");
    assert!(
        stderr.contains("it takes: `level` (how broken, 1 to 3; default: 1)"),
        "{stderr}"
    );
}

/// Every size and offset of the version-1 mirror equals the version-1 header's, kept verbatim.
#[test]
fn the_rust_version_1_mirror_matches_the_version_1_header() {
    use spiro_plugin_abi::SpiroScannerPluginV1;
    use std::mem::{offset_of, size_of};
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("layout_v1.c");
    std::fs::write(
        &source,
        r#"
#include <stdio.h>
#include <stddef.h>
#include "spiro_scanner.h"
#define F(f) printf(#f " %zu\n", offsetof(SpiroScannerPlugin, f));
int main(void) {
    printf("size %zu\nABI %u\n", sizeof(SpiroScannerPlugin), SPIRO_SCANNER_ABI_VERSION);
    F(abi_version) F(struct_size) F(name) F(name_len) F(description) F(description_len)
    F(scan_start) F(scan_next) F(entry_release) F(open) F(read) F(reader_free) F(scan_free)
    F(string_free)
    return 0;
}
"#,
    )
    .unwrap();
    let c = compile_and_run(&source, "tests-fixtures/v1");
    macro_rules! fields {
        ($($f:ident),*) => {
            vec![$(format!(concat!(stringify!($f), " {}"), offset_of!(SpiroScannerPluginV1, $f))),*]
        };
    }
    let mut rust = vec![
        format!("size {}", size_of::<SpiroScannerPluginV1>()),
        "ABI 1".to_owned(),
    ];
    rust.extend(fields!(
        abi_version,
        struct_size,
        name,
        name_len,
        description,
        description_len,
        scan_start,
        scan_next,
        entry_release,
        open,
        read,
        reader_free,
        scan_free,
        string_free
    ));
    assert_eq!(c.lines().collect::<Vec<_>>(), rust);
    assert_eq!(
        size_of::<SpiroScannerPluginV1>() as u32,
        spiro_plugin_abi::DESCRIPTOR_SIZE_V1
    );
}

/// Compiles the C program `source` against the header in `include` (relative to `plugins/`),
/// runs it and returns its output.
fn compile_and_run(source: &Path, include: &str) -> String {
    let exe = source.with_extension("");
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let status = Command::new(compiler)
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(workspace_root().join("plugins").join(include))
        .arg("-o")
        .arg(&exe)
        .arg(source)
        .status()
        .unwrap();
    assert!(status.success());
    let output = Command::new(&exe).output().unwrap();
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn cli_passes_options_to_plugins_and_lists_them() {
    let plugins = plugin_dir();
    let data = tempfile::tempdir().unwrap();
    let project = toplevel_project();
    write(project.path(), "_salt/top.sls", "base: {}\n");
    let out = tempfile::tempdir().unwrap();
    let members = cli_bundle(
        cli(project.path(), Some(plugins.path()), data.path())
            .arg("--include-source=toplevel,hidden=false,max-size=100"),
        &out.path().join("b.tar"),
    );
    assert_eq!(
        names(&members),
        ["top.sls", "_source/small.txt", "_source/.toplevel-index"]
    );

    let output = cli(project.path(), Some(plugins.path()), data.path())
        .arg("--list-scanners")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no line starting {needle:?} in\n{stdout}"))
    };
    let top = at("toplevel ");
    assert!(
        lines[top + 1].contains("option    ,hidden=true "),
        "{stdout}"
    );
    assert!(
        lines[top + 1].ends_with("also bundle names that start with `.`"),
        "{stdout}"
    );
    assert!(
        lines[top + 2].contains("option    ,max-size=none  leave out"),
        "{stdout}"
    );
    let manifest = at("manifest ");
    assert!(
        lines[manifest + 1].contains("option    ,file=.spiromanifest  the list of paths"),
        "{stdout}"
    );
}

/// Runs `cmd` to bundle and returns its stderr, checking that it failed with status 2.
fn cli_usage_error(cmd: &mut Command) -> String {
    let output = cmd.args(["--output", "-", "p", "d"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--list-scanners"), "{stderr}");
    stderr
}

#[test]
fn cli_option_mistakes_for_plugins_are_usage_errors() {
    let plugins = plugin_dir();
    let data = tempfile::tempdir().unwrap();
    let project = toplevel_project();
    write(project.path(), "_salt/top.sls", "base: {}\n");
    let run = |spec: &str| {
        cli_usage_error(
            cli(project.path(), Some(plugins.path()), data.path())
                .arg(format!("--include-source={spec}")),
        )
    };
    let stderr = run("toplevel,max-size=big");
    assert!(
        stderr.contains(
            "scanner `toplevel` refused its options: option `max-size` must be a number of \
             bytes or `none`, not `big`"
        ),
        "{stderr}"
    );
    let stderr = run("toplevel,colour");
    assert!(
        stderr.contains("scanner `toplevel` has no option `colour`; it takes: `hidden`"),
        "{stderr}"
    );
    let stderr = run("manifest,file=/etc/passwd");
    assert!(
        stderr.contains("refused its options: option `file`"),
        "{stderr}"
    );

    // A version-1 plugin, by path: it takes no options.
    let v1_dir = tempfile::tempdir().unwrap();
    let v1 = toplevel_v1(v1_dir.path());
    let stderr = run(&format!("{},hidden=false", v1.display()));
    assert!(
        stderr.contains("scanner `toplevel` has no option `hidden`; it takes no options"),
        "{stderr}"
    );
    // And without options it bundles, as it always did.
    let out = tempfile::tempdir().unwrap();
    let members = cli_bundle(
        cli(project.path(), None, data.path()).arg(format!("--include-source={}", v1.display())),
        &out.path().join("b.tar"),
    );
    assert_eq!(
        names(&members),
        [
            "top.sls",
            "_source/.env",
            "_source/large.bin",
            "_source/small.txt",
            "_source/.toplevel-index"
        ]
    );
}

//! `manifest`: an example spiro-deploy scanner plugin, written with `spiro-plugin-sdk`.
//!
//! It bundles only what the file `.spiromanifest` at the root of the project lists, one path
//! per line:
//!
//! ```text
//! # Comments and blank lines are ignored; surrounding spaces are trimmed.
//! app.py
//! config/settings.toml
//! static/            <- a directory: everything below it, in name order
//! ```
//!
//! Paths are relative to the root and `/`-separated; one that is absolute, climbs with `..`,
//! goes through a symlinked directory or does not exist is an error naming the manifest line.
//! Entries come in manifest order, each path once (listing a file twice, or a file and its
//! directory, is harmless). Symlinks are bundled as symlinks. The host's `should_skip` is
//! honoured as everywhere else, so `.git` directories stay out.
//!
//! Option: `file=PATH` reads the list from another file of the project (default
//! `.spiromanifest`), so one project can keep a list per deployment:
//! `--include-source=manifest,file=deploy/web.list`. PATH is relative to the project and may not
//! climb out of it; the manifest file itself is bundled only if it lists itself.
//!
//! Build: `cargo build --release -p spiro-scanner-manifest` gives
//! `target/release/libspiro_scanner_manifest.so`; see `plugins/README.md` for installing it.

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use spiro_plugin_sdk::{PluginOptions, PluginScanner};
use spiro_scanner::{
    Candidate, Entries, Entry, EntryName, Error, OptionError, OptionInfo, OptionReader, Scanner,
    ShouldSkip,
};

/// The manifest's default file name, at the scanned root.
pub const MANIFEST: &str = ".spiromanifest";

/// The scanner: see the crate documentation.
#[derive(Debug)]
pub struct ManifestScanner {
    root: PathBuf,
    /// The manifest, relative to `root`.
    manifest: EntryName,
}

/// The scanner's options: see the crate documentation.
#[derive(Debug)]
pub struct ManifestOptions {
    file: EntryName,
}

impl PluginOptions for ManifestOptions {
    const OPTIONS: &'static [OptionInfo] = &[OptionInfo::new(
        "file",
        "the list of paths to bundle, relative to the project",
        MANIFEST,
    )];

    fn from_options(options: &OptionReader<'_>) -> Result<Self, OptionError> {
        // Refused here, when the host configures the plugin: a usage error before any scan.
        let file = EntryName::new(options.str("file")).map_err(|_| {
            options.invalid(
                "file",
                "a relative path inside the project (no leading `/`, no `..`)",
            )
        })?;
        Ok(ManifestOptions { file })
    }
}

impl PluginScanner for ManifestScanner {
    const NAME: &'static str = "manifest";
    const DESCRIPTION: &'static str =
        "Bundles only the files and directories listed in the project's .spiromanifest";
    type Options = ManifestOptions;

    fn new(root: &Path, options: &ManifestOptions) -> Result<Self, Error> {
        Ok(ManifestScanner {
            root: root.to_path_buf(),
            manifest: options.file.clone(),
        })
    }
}

spiro_plugin_sdk::export_scanner!(ManifestScanner);

impl Scanner for ManifestScanner {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        let manifest = self.root.join(self.manifest.as_path());
        let file = File::open(&manifest).map_err(|e| Error::read(&manifest, e))?;
        Ok(Box::new(Walk {
            root: &self.root,
            should_skip,
            lines: BufReader::new(file).split(b'\n'),
            line_no: 0,
            manifest,
            stack: Vec::new(),
            seen: HashSet::new(),
            failed: false,
        }))
    }
}

/// A listed directory being walked: its name and its remaining children, sorted.
struct Frame {
    name: EntryName,
    children: std::vec::IntoIter<Vec<u8>>,
}

struct Walk<'s> {
    root: &'s Path,
    should_skip: &'s ShouldSkip<'s>,
    lines: io::Split<BufReader<File>>,
    line_no: usize,
    manifest: PathBuf,
    stack: Vec<Frame>,
    seen: HashSet<EntryName>,
    failed: bool,
}

impl<'s> Iterator for Walk<'s> {
    type Item = spiro_scanner::Result<Entry<'s>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = self.advance();
        if let Some(Err(_)) = result {
            self.failed = true;
        }
        result
    }
}

impl<'s> Walk<'s> {
    fn advance(&mut self) -> Option<spiro_scanner::Result<Entry<'s>>> {
        loop {
            if let Some(frame) = self.stack.last_mut() {
                let Some(child) = frame.children.next() else {
                    self.stack.pop();
                    continue;
                };
                let name = match EntryName::new(&child) {
                    Ok(child) => frame.name.join(&child),
                    Err(_) => continue, // a NUL cannot occur in a file name
                };
                match self.visit(name, None) {
                    Ok(Some(entry)) => return Some(Ok(entry)),
                    Ok(None) => continue,
                    Err(e) => return Some(Err(e)),
                }
            }
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(e) => return Some(Err(Error::read(&self.manifest, e))),
            };
            self.line_no += 1;
            let line = line.trim_ascii();
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let name = match EntryName::new(line) {
                Ok(name) => name,
                Err(reason) => {
                    let shown = String::from_utf8_lossy(line);
                    return Some(Err(self.line_error(format!("`{shown}`: {reason}"))));
                }
            };
            match self.check_parents(&name) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Some(Err(e)),
            }
            match self.visit(name, Some(self.line_no)) {
                Ok(Some(entry)) => return Some(Ok(entry)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    fn line_error(&self, message: String) -> Error {
        let at = format!("{}:{}", self.manifest.display(), self.line_no);
        Error::scanner(ManifestScanner::NAME, format!("{at}: {message}"))
    }

    /// Whether the directories above `name` may be entered: they must be real directories (a
    /// symlinked one could lead anywhere on the disk) that `should_skip` does not refuse.
    fn check_parents(&self, name: &EntryName) -> spiro_scanner::Result<bool> {
        let components: Vec<&[u8]> = name.components().collect();
        let mut dir = Vec::new();
        for component in &components[..components.len() - 1] {
            if !dir.is_empty() {
                dir.push(b'/');
            }
            dir.extend_from_slice(component);
            let rel = EntryName::new(&dir).expect("a prefix of a valid name is valid");
            if (self.should_skip)(&Candidate {
                path: rel.as_path(),
                is_dir: true,
            }) {
                return Ok(false);
            }
            let meta = match fs::symlink_metadata(self.root.join(rel.as_path())) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(self.line_error(format!("`{name}`: `{rel}` does not exist")));
                }
                Err(e) => return Err(Error::read(self.root.join(rel.as_path()), e)),
            };
            if meta.file_type().is_symlink() {
                return Err(self.line_error(format!(
                    "`{name}` goes through the symlink `{rel}`; list the link itself"
                )));
            }
            if !meta.is_dir() {
                return Err(self.line_error(format!("`{name}`: `{rel}` is not a directory")));
            }
        }
        Ok(true)
    }

    /// The entry for `name`, or `None` if it is skipped, already bundled, a directory (whose
    /// walk is started) or neither a file nor a symlink.
    fn visit(
        &mut self,
        name: EntryName,
        line: Option<usize>,
    ) -> spiro_scanner::Result<Option<Entry<'s>>> {
        let path = self.root.join(name.as_path());
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound && line.is_some() => {
                return Err(self.line_error(format!("`{name}` does not exist")));
            }
            Err(e) => return Err(Error::read(&path, e)),
        };
        let file_type = meta.file_type();
        if file_type.is_dir() {
            if (self.should_skip)(&Candidate {
                path: name.as_path(),
                is_dir: true,
            }) {
                return Ok(None);
            }
            let mut children: Vec<Vec<u8>> = fs::read_dir(&path)
                .and_then(|read| {
                    read.map(|e| e.map(|e| e.file_name().into_encoded_bytes()))
                        .collect()
                })
                .map_err(|e| Error::read(&path, e))?;
            children.sort();
            self.stack.push(Frame {
                name,
                children: children.into_iter(),
            });
            return Ok(None);
        }
        if self.seen.contains(&name)
            || (self.should_skip)(&Candidate {
                path: name.as_path(),
                is_dir: false,
            })
        {
            return Ok(None);
        }
        // A file opened only when written, or a symlink stored as a link, exactly as the
        // built-in `fs` scanner yields it; sockets, FIFOs and devices are never bundled.
        let entry = spiro_scanners::entry_from_disk(name.clone(), path, &meta)?;
        if entry.is_some() {
            self.seen.insert(name);
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(given: &[(&str, &str)]) -> Result<ManifestOptions, OptionError> {
        let mut options = spiro_scanner::ScannerOptions::new();
        for (key, value) in given {
            options = options.set(*key, *value);
        }
        ManifestOptions::read(ManifestScanner::NAME, &options)
    }

    fn names(root: &Path, skip: &ShouldSkip<'_>) -> spiro_scanner::Result<Vec<String>> {
        let scanner = ManifestScanner::new(root, &options(&[]).unwrap())?;
        scanner
            .scan(skip)?
            .map(|e| e.map(|e| e.name().to_string()))
            .collect()
    }

    #[test]
    fn lists_files_and_directories_in_manifest_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("static/css")).unwrap();
        fs::create_dir_all(root.join("static/.git")).unwrap();
        fs::write(root.join("static/.git/config"), "x").unwrap();
        fs::write(root.join("static/b.js"), "b").unwrap();
        fs::write(root.join("static/css/a.css"), "a").unwrap();
        fs::write(root.join("app.py"), "print()").unwrap();
        fs::write(root.join("unlisted"), "").unwrap();
        fs::write(
            root.join(MANIFEST),
            "# comment\n\n  app.py  \nstatic/\nstatic/b.js\r\n",
        )
        .unwrap();
        let skip_git = |c: &Candidate<'_>| c.path.ends_with(".git");
        assert_eq!(
            names(root, &skip_git).unwrap(),
            ["app.py", "static/b.js", "static/css/a.css"]
        );
    }

    #[test]
    fn the_file_option_names_another_list_and_refuses_paths_out_of_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("deploy")).unwrap();
        fs::write(root.join("deploy/web.list"), "a\n").unwrap();
        fs::write(root.join("a"), "").unwrap();
        fs::write(root.join("b"), "").unwrap();
        fs::write(root.join(MANIFEST), "b\n").unwrap();
        let web =
            ManifestScanner::new(root, &options(&[("file", "deploy/web.list")]).unwrap()).unwrap();
        let names: Vec<String> = web
            .scan(&|_| false)
            .unwrap()
            .map(|e| e.unwrap().name().to_string())
            .collect();
        assert_eq!(names, ["a"]);

        for bad in ["../x", "/etc/passwd", ""] {
            let error = options(&[("file", bad)]).unwrap_err().to_string();
            assert!(
                error.contains("a relative path inside the project"),
                "{error}"
            );
        }
        assert!(matches!(
            options(&[("files", "x")]),
            Err(OptionError::Unknown { .. })
        ));
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (manifest, expected) in [
            ("ok\n../etc/passwd\n", ".spiromanifest:2: `../etc/passwd`"),
            ("/etc/passwd\n", ".spiromanifest:1: `/etc/passwd`"),
            ("missing\n", ".spiromanifest:1: `missing` does not exist"),
            ("link/x\n", "goes through the symlink `link`"),
        ] {
            fs::write(root.join("ok"), "").unwrap();
            #[cfg(unix)]
            let _ = std::os::unix::fs::symlink("/etc", root.join("link"));
            fs::write(root.join(MANIFEST), manifest).unwrap();
            let err = names(root, &|_| false).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}

//! The registry of built-in scanners.

mod common;

use common::{Fixture, scan_items};
use spiro_scanner::{OptionError, ScannerOptions};

#[test]
fn every_listed_name_is_built_in() {
    let dir = std::env::temp_dir();
    let none = ScannerOptions::new();
    for builtin in spiro_scanners::BUILTIN {
        let scanner = spiro_scanners::builtin(builtin.name, &dir, &none)
            .expect(builtin.name)
            .expect("no options");
        assert!(!builtin.description.is_empty());
        let expected = if builtin.name == "git" { "git" } else { "fs" };
        assert_eq!(scanner.name(), expected);
        for option in builtin.options {
            assert!(!option.description.is_empty() && !option.default.is_empty());
            // Every declared option is taken, with its default written out.
            let given = ScannerOptions::new().set(option.name.clone(), option.default.clone());
            assert!(
                spiro_scanners::builtin(builtin.name, &dir, &given)
                    .unwrap()
                    .is_ok()
            );
        }
    }
    assert!(spiro_scanners::builtin("nope", &dir, &none).is_none());
}

#[test]
fn options_are_checked_against_what_each_scanner_takes() {
    let dir = std::env::temp_dir();
    let refused = |name: &str, key: &str, value: &str| {
        let options = ScannerOptions::new().set(key, value);
        match spiro_scanners::builtin(name, &dir, &options).unwrap() {
            Ok(_) => panic!("{name},{key}={value} was taken"),
            Err(e) => e,
        }
    };
    assert!(matches!(
        refused("git", "gitignore", "true"),
        OptionError::Unknown { .. }
    ));
    assert!(matches!(
        refused("fs", "submodules", "true"),
        OptionError::Unknown { .. }
    ));
    assert!(matches!(
        refused("git", "lfs", "maybe"),
        OptionError::Invalid { .. }
    ));
    assert_eq!(
        refused("filesystem", "gitignore", "2").to_string(),
        "option `gitignore` of scanner `fs` must be `true` or `false`, not `2`"
    );
}

#[test]
fn fs_leaves_out_salt() {
    let fx = Fixture::plain();
    fx.write("_salt/top.sls", "base: {}\n");
    fx.write("app/main.py", "print()\n");
    let scanner = spiro_scanners::builtin("filesystem", &fx.root, &ScannerOptions::new())
        .unwrap()
        .unwrap();
    let names: Vec<String> = scan_items(&*scanner)
        .iter()
        .map(|i| i.name().to_owned())
        .collect();
    assert_eq!(names, ["app/main.py"]);
}

#[test]
fn git_reads_the_head_commit() {
    let fx = Fixture::init();
    fx.write("committed.txt", "yes\n");
    fx.commit("one");
    fx.write("uncommitted.txt", "no\n");
    let scanner = spiro_scanners::builtin("git", &fx.root, &ScannerOptions::new())
        .unwrap()
        .unwrap();
    let names: Vec<String> = scan_items(&*scanner)
        .iter()
        .map(|i| i.name().to_owned())
        .collect();
    assert_eq!(names, ["committed.txt"]);
    assert!(spiro_scanners::is_in_git_repository(&fx.root.join(".git")));
}

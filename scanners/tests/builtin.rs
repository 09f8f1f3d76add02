//! The registry of built-in scanners.

mod common;

use common::{Fixture, scan_items};

#[test]
fn every_listed_name_is_built_in() {
    let dir = std::env::temp_dir();
    for (name, description) in spiro_scanners::BUILTIN {
        let scanner = spiro_scanners::builtin(name, &dir).expect(name);
        assert!(!description.is_empty());
        let expected = if *name == "git" { "git" } else { "fs" };
        assert_eq!(scanner.name(), expected);
    }
    assert!(spiro_scanners::builtin("nope", &dir).is_none());
}

#[test]
fn fs_leaves_out_salt() {
    let fx = Fixture::plain();
    fx.write("_salt/top.sls", "base: {}\n");
    fx.write("app/main.py", "print()\n");
    let scanner = spiro_scanners::builtin("filesystem", &fx.root).unwrap();
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
    let scanner = spiro_scanners::builtin("git", &fx.root).unwrap();
    let names: Vec<String> = scan_items(&*scanner)
        .iter()
        .map(|i| i.name().to_owned())
        .collect();
    assert_eq!(names, ["committed.txt"]);
    assert!(spiro_scanners::is_in_git_repository(&fx.root.join(".git")));
}

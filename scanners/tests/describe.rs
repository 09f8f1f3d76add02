//! `head_commit` against `git describe --all` itself, scenario by scenario.

mod common;

use common::{DescribeCheck, Fixture};

/// A linear history of three commits on `main`.
fn linear() -> Fixture {
    let fx = Fixture::init();
    for i in 1..=3 {
        fx.write("file.txt", format!("version {i}\n"));
        fx.commit(&format!("commit {i}"));
    }
    fx
}

#[test]
fn head_on_a_branch_tip() {
    let fx = linear();
    assert_eq!(fx.assert_describe_matches_git(), "heads/main");
}

#[test]
fn head_on_a_lightweight_tag() {
    let fx = linear();
    fx.git(&["tag", "v1"]);
    assert_eq!(fx.assert_describe_matches_git(), "tags/v1");
}

#[test]
fn head_on_an_annotated_tag() {
    let fx = linear();
    fx.git(&["tag", "v1"]);
    fx.annotated_tag("v1.0");
    fx.git(&["checkout", "-q", "--detach"]);
    assert_eq!(fx.assert_describe_matches_git(), "tags/v1.0");
}

#[test]
fn several_refs_on_the_same_commit() {
    let fx = linear();
    fx.git(&["branch", "zeta"]);
    fx.git(&["branch", "alpha"]);
    fx.git(&["update-ref", "refs/remotes/origin/main", "HEAD"]);
    fx.git(&["update-ref", "refs/notes-like/custom", "HEAD"]);
    fx.git(&["checkout", "-q", "--detach"]);
    // Branches only: the first in ref order wins.
    assert_eq!(fx.assert_describe_matches_git(), "heads/alpha");
    // Lightweight tags beat branches; the first tag in ref order wins.
    fx.git(&["tag", "b-light"]);
    fx.git(&["tag", "a-light"]);
    assert_eq!(fx.assert_describe_matches_git(), "tags/a-light");
    // Annotated tags beat everything; the newest tagger date wins, not the name.
    fx.annotated_tag("v2-older");
    fx.annotated_tag("v1-newer");
    assert_eq!(fx.assert_describe_matches_git(), "tags/v1-newer");
}

#[test]
fn annotated_tags_with_equal_dates_keep_the_first() {
    let fx = linear();
    fx.git(&["tag", "-a", "-m", "b", "b-tag"]);
    fx.git(&["tag", "-a", "-m", "a", "a-tag"]);
    assert_eq!(fx.assert_describe_matches_git(), "tags/a-tag");
}

#[test]
fn detached_head_past_a_branch_tip() {
    let fx = linear();
    fx.git(&["checkout", "-q", "--detach"]);
    fx.write("file.txt", "detached\n");
    fx.commit("detached 1");
    let first = fx.assert_describe_matches_git();
    assert!(first.starts_with("heads/main-1-g"), "{first}");
    fx.commit("detached 2");
    assert!(
        fx.assert_describe_matches_git()
            .starts_with("heads/main-2-g")
    );
}

#[test]
fn detached_head_past_a_tag() {
    let fx = linear();
    fx.annotated_tag("v1.0");
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["branch", "-q", "-D", "main"]);
    fx.commit("past the tag 1");
    fx.commit("past the tag 2");
    let described = fx.assert_describe_matches_git();
    assert!(described.starts_with("tags/v1.0-2-g"), "{described}");
    // A branch nearer than the tag wins by depth.
    fx.git(&["branch", "near"]);
    fx.commit("past the branch");
    assert!(
        fx.assert_describe_matches_git()
            .starts_with("heads/near-1-g")
    );
}

#[test]
fn remote_tracking_refs() {
    let fx = linear();
    let tip = fx.head();
    fx.git(&["update-ref", "refs/remotes/origin/main", &tip]);
    fx.git(&[
        "symbolic-ref",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/main",
    ]);
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["branch", "-q", "-D", "main"]);
    // The symbolic ref sorts before its target and names the commit.
    assert_eq!(fx.assert_describe_matches_git(), "remotes/origin/HEAD");
    fx.commit("past the remote");
    assert!(
        fx.assert_describe_matches_git()
            .starts_with("remotes/origin/HEAD-1-g")
    );
}

#[test]
fn only_a_detached_head_and_no_refs() {
    let fx = linear();
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["update-ref", "-d", "refs/heads/main"]);
    // git: "fatal: No names found, cannot describe anything."
    assert_eq!(fx.assert_describe_matches_git(), "");
}

#[test]
fn no_ref_reachable_from_head() {
    let fx = linear();
    fx.git(&["checkout", "-q", "--orphan", "other"]);
    fx.commit("an unrelated root");
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["update-ref", "-d", "refs/heads/other"]);
    // git: "No tags can describe ..."
    assert_eq!(fx.assert_describe_matches_git(), "");
}

#[test]
fn renamed_annotated_tag_gets_a_suffix() {
    let fx = linear();
    fx.annotated_tag("v1");
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["branch", "-q", "-D", "main"]);
    let tag = fx.git(&["rev-parse", "refs/tags/v1"]);
    fx.git(&["update-ref", "refs/tags/renamed", tag.trim()]);
    fx.git(&["update-ref", "-d", "refs/tags/v1"]);
    let exact = fx.assert_describe_matches_git();
    assert!(exact.starts_with("tags/v1-0-g"), "{exact}");
    fx.commit("past");
    assert!(fx.assert_describe_matches_git().starts_with("tags/v1-1-g"));
}

#[test]
fn merges_with_equal_dates_and_tags_on_both_sides() {
    let fx = Fixture::init();
    fx.set_tick(5);
    fx.commit_same_date("root");
    fx.git(&["tag", "-a", "-m", "root", "t-root"]);
    fx.git(&["checkout", "-q", "-b", "side"]);
    for i in 0..3 {
        fx.commit_same_date(&format!("side {i}"));
    }
    fx.git(&["tag", "t-side"]);
    fx.git(&["checkout", "-q", "main"]);
    for i in 0..2 {
        fx.commit_same_date(&format!("main {i}"));
    }
    fx.git(&["tag", "-a", "-m", "main", "t-main"]);
    fx.commit_same_date("main after tag");
    fx.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    fx.commit_same_date("after merge");
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["branch", "-q", "-D", "main", "side"]);
    fx.assert_describe_matches_git();
    // Advancing dates change the walk order; git and we must still agree.
    fx.commit("later");
    fx.assert_describe_matches_git();
}

#[test]
fn more_than_ten_candidates() {
    let fx = Fixture::init();
    for i in 0..14 {
        fx.commit(&format!("c{i}"));
        fx.git(&["tag", &format!("light-{i:02}")]);
        if i % 5 == 0 {
            fx.git(&["branch", &format!("b{i}")]);
        }
    }
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["branch", "-q", "-D", "main"]);
    fx.git(&["tag", "-d", "light-13"]);
    fx.assert_describe_matches_git();
    // A second line of history merged in, with candidates on both sides.
    fx.git(&["checkout", "-q", "-b", "other", "light-03"]);
    for i in 0..6 {
        fx.commit(&format!("o{i}"));
        fx.git(&["tag", "-a", "-m", "o", &format!("other-{i}")]);
    }
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["branch", "-q", "-D", "other"]);
    fx.git(&["merge", "-q", "--no-ff", "-m", "merge", "light-12"]);
    fx.commit("top");
    fx.assert_describe_matches_git();
}

#[test]
fn abbreviation_grows_with_the_packed_object_count() {
    let fx = linear();
    // Past 2^14 packed objects git abbreviates to 8 digits by default.
    let mut stream = Vec::new();
    for i in 0..16_500 {
        let data = format!("blob number {i}\n");
        stream.extend_from_slice(format!("blob\ndata {}\n{data}\n", data.len()).as_bytes());
    }
    fx.git_stdin(&["fast-import", "--quiet"], &stream);
    fx.git(&["checkout", "-q", "--detach"]);
    fx.commit("past main");
    let described = fx.assert_describe_matches_git();
    let abbrev = described.rsplit("-g").next().unwrap();
    assert_eq!(abbrev.len(), 8, "{described}");
}

#[test]
fn core_abbrev_is_honoured() {
    let fx = linear();
    fx.git(&["config", "core.abbrev", "12"]);
    fx.git(&["checkout", "-q", "--detach"]);
    fx.commit("past main");
    let described = fx.assert_describe_matches_git();
    assert_eq!(described.rsplit("-g").next().unwrap().len(), 12);
}

#[test]
fn packed_refs_and_objects() {
    let fx = linear();
    fx.annotated_tag("v1.0");
    fx.commit("after");
    fx.git(&["branch", "feature"]);
    fx.commit("more");
    fx.git(&["gc", "-q"]);
    fx.git(&["pack-refs", "--all"]);
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["branch", "-q", "-D", "main"]);
    assert!(
        fx.assert_describe_matches_git()
            .starts_with("heads/feature-1-g")
    );
}

#[test]
fn shallow_clone() {
    let upstream = linear();
    upstream.annotated_tag("v1.0");
    upstream.commit("after the tag");
    upstream.commit("tip");
    let fx = Fixture::plain();
    let url = format!("file://{}", upstream.root.display());
    fx.git(&["clone", "-q", "--depth", "2", &url, "."]);
    assert_eq!(fx.assert_describe_matches_git(), "heads/main");
    fx.git(&["checkout", "-q", "--detach"]);
    fx.git(&["branch", "-q", "-D", "main"]);
    fx.git(&["update-ref", "-d", "refs/remotes/origin/main"]);
    fx.git(&["update-ref", "-d", "refs/remotes/origin/HEAD"]);
    fx.git(&["tag", "shallow-light", "HEAD~1"]);
    fx.commit("on top of the shallow clone");
    fx.assert_describe_matches_git();
}

#[test]
fn no_commit_and_no_repository() {
    let fx = Fixture::init();
    assert_eq!(spiro_scanners::head_commit(&fx.root).unwrap(), None);
    assert!(spiro_scanners::is_in_git_repository(&fx.root));
    let plain = Fixture::plain();
    assert_eq!(spiro_scanners::head_commit(&plain.root).unwrap(), None);
    assert!(!spiro_scanners::is_in_git_repository(&plain.root));
}

#[test]
fn from_a_subdirectory() {
    let fx = linear();
    fx.write("sub/dir/file", "x");
    fx.commit("sub");
    let ours = spiro_scanners::head_commit(&fx.root.join("sub/dir"))
        .unwrap()
        .unwrap();
    assert_eq!(ours.hash, fx.head());
    assert_eq!(ours.describe, "heads/main");
}

//! A re-implementation of `git describe --all`, for `.gitcommit`.
//!
//! Why not gix's own describe: the second line of `.gitcommit` is a contract with tooling
//! that was written against git's output, byte for byte. gix's describe names refs by their
//! short names (`main` where git prints `heads/main`), ranks an exact match between several
//! refs differently, and walks history with different tie-breaking, so its output differs from
//! git's in ordinary repositories. This module follows git's `builtin/describe.c` (as of git
//! 2.47) with `--all` and every other option at its default:
//!
//! 1. **Names.** Every ref under `refs/` (symbolic ones like `refs/remotes/origin/HEAD`
//!    included, resolved to their target) is a candidate, named by its full name without
//!    `refs/` (`heads/main`, `tags/v1.0`, `remotes/origin/x`). Refs are visited in byte order
//!    of their full names. Each ref is peeled through tags to the commit it names; a ref to an
//!    annotated tag has priority 2, any other ref under `refs/tags/` priority 1, every other
//!    ref priority 0. Each commit keeps one name: a higher priority replaces a lower one; among
//!    annotated tags the one with the strictly newer tagger date wins; otherwise the first ref
//!    visited stays (so `heads/…` beats `remotes/…` beats `tags/…` for lightweight tags).
//! 2. **Exact match.** If `HEAD` has a name, that name is the answer. An annotated tag prints
//!    as `tags/` plus the name recorded *inside* the tag object; when that differs from the
//!    ref's name (a renamed tag), git appends `-0-g<abbrev>` of the tag's target.
//! 3. **Walk.** Otherwise history is walked from `HEAD` newest-commit-first (committer date;
//!    ties in the order commits were queued), collecting up to 10 named commits. Each
//!    candidate's depth counts the commits visited that it cannot reach. The walk stops early
//!    once an annotated tag was found and the only remaining path is covered by the best
//!    candidates, or when an 11th name turns up; the best candidate (smallest depth, then
//!    first found) then has its depth finished by walking on until only commits it reaches
//!    remain queued.
//! 4. **Suffix.** The answer is `<name>-<depth>-g<abbrev>`, where `<abbrev>` is the commit's
//!    hash shortened as git does by default: `core.abbrev` if set, else a length derived from
//!    the number of packed objects (at least 7, one more per doubling past 2^14 objects…,
//!    precisely `ceil((floor(log2(n)) + 1) / 2)`), extended until no other object shares the
//!    prefix.
//!
//! When git would fail ("No names found", "No tags can describe"), this returns `None`.
//!
//! Shallow clones are honoured: commits listed in `.git/shallow` have no parents, as for git.
//! git ≥ 2.48 stops the walk slightly earlier in some histories (more than 10 candidates, or
//! fewer names than candidates over several roots), which can change the depth it reports in
//! those cases; this module follows the older, widely installed behaviour.

use std::collections::{HashMap, HashSet, VecDeque};

use gix::ObjectId;
use gix::objs::Kind;
use spiro_scanner::Error;

use crate::repo::gix_error;

/// git's default `--candidates`.
const MAX_CANDIDATES: usize = 10;
/// The `SEEN` flag of git's walk; candidate flags use the bits above it.
const SEEN: u32 = 1;

/// What an annotated tag object says about itself.
#[derive(Clone, Debug)]
struct TagInfo {
    /// The name recorded in the tag object.
    name: Vec<u8>,
    /// The tagger's timestamp (0 without a tagger, as in git).
    date: i64,
    /// The object the tag points to directly.
    target: ObjectId,
}

/// git's `struct commit_name`: the name chosen for one peeled object.
#[derive(Clone, Debug)]
struct Name {
    /// 2 annotated tag, 1 lightweight tag, 0 any other ref.
    prio: u8,
    /// The object the ref points to (the tag object for an annotated tag).
    oid: ObjectId,
    /// The ref's name without `refs/`.
    path: Vec<u8>,
}

/// `git describe --all HEAD` for `head` in `repo`; `None` where git would print nothing and
/// fail.
pub(crate) fn describe_all(
    repo: &gix::Repository,
    head: ObjectId,
) -> Result<Option<String>, Error> {
    let names = collect_names(repo)?;
    if names.is_empty() {
        return Ok(None);
    }
    if let Some(name) = names.get(&head) {
        let (text, misnamed) = display_name(repo, name)?;
        let mut out = text;
        if misnamed {
            let target = tag_info(repo, name.oid)?.map_or(head, |t| t.target);
            out.push_str(&format!("-0-g{}", abbreviate(repo, target)?));
        }
        return Ok(Some(out));
    }
    let mut walk = Walk::new(repo)?;
    let Some((name, depth)) = walk.run(head, &names)? else {
        return Ok(None);
    };
    let (mut out, _misnamed) = display_name(repo, name)?;
    // git appends the suffix whenever `abbrev` is non-zero, which it always is by default.
    out.push_str(&format!("-{depth}-g{}", abbreviate(repo, head)?));
    Ok(Some(out))
}

/// git's `append_name`: the name to print, and whether the tag is "misnamed" (its ref name
/// differs from the name inside the tag object).
fn display_name(repo: &gix::Repository, name: &Name) -> Result<(String, bool), Error> {
    if name.prio == 2
        && let Some(tag) = tag_info(repo, name.oid)?
    {
        // With --all git compares the tag's own name with the path past `refs/` + 5 bytes,
        // i.e. past `tags/`.
        let misnamed = name.path.get(5..) != Some(&tag.name[..]);
        let mut text = b"tags/".to_vec();
        text.extend_from_slice(&tag.name);
        return Ok((String::from_utf8_lossy(&text).into_owned(), misnamed));
    }
    Ok((String::from_utf8_lossy(&name.path).into_owned(), false))
}

/// git's `get_name` over every ref: one [`Name`] per peeled object.
fn collect_names(repo: &gix::Repository) -> Result<HashMap<ObjectId, Name>, Error> {
    let platform = repo
        .references()
        .map_err(|e| gix_error("cannot list the repository's refs", e))?;
    let mut refs: Vec<(gix::refs::FullName, Option<ObjectId>)> = Vec::new();
    for reference in platform
        .all()
        .map_err(|e| gix_error("cannot list the repository's refs", e))?
    {
        // A ref that cannot be read is passed over, as git passes over broken refs.
        let Ok(reference) = reference else { continue };
        let name = reference.name().to_owned();
        let direct = reference.target().try_id().map(ToOwned::to_owned);
        refs.push((name, direct));
    }
    refs.sort_by(|a, b| a.0.as_bstr().cmp(b.0.as_bstr()));

    let mut names: HashMap<ObjectId, Name> = HashMap::new();
    for (full, direct) in refs {
        let full_name: &[u8] = full.as_bstr();
        let Some(path) = full_name.strip_prefix(b"refs/") else {
            continue;
        };
        let oid = match direct {
            Some(oid) => oid,
            None => {
                // A symbolic ref: what it finally points to.
                let Ok(mut reference) = repo.find_reference(full.as_ref()) else {
                    continue;
                };
                match reference.follow_to_object() {
                    Ok(id) => id.detach(),
                    Err(_) => continue,
                }
            }
        };
        let is_tag = full_name.starts_with(b"refs/tags/");
        let peeled = peel(repo, oid);
        let prio = if peeled != oid {
            2
        } else if is_tag {
            1
        } else {
            0
        };
        let replace = match names.get(&peeled) {
            None => true,
            Some(existing) if existing.prio < prio => true,
            Some(existing) if existing.prio == 2 && prio == 2 => {
                // Several annotated tags on one commit: the newer tagger date wins.
                match tag_info(repo, existing.oid)? {
                    None => true,
                    Some(old) => match tag_info(repo, oid)? {
                        None => false,
                        Some(new) => old.date < new.date,
                    },
                }
            }
            Some(_) => false,
        };
        if replace {
            names.insert(
                peeled,
                Name {
                    prio,
                    oid,
                    path: path.to_vec(),
                },
            );
        }
    }
    Ok(names)
}

/// Follows annotated tags from `oid` to the object they finally name; `oid` itself when it is
/// not a tag or cannot be read (git's `peel_iterated_oid` failing).
fn peel(repo: &gix::Repository, oid: ObjectId) -> ObjectId {
    let mut current = oid;
    let mut seen = HashSet::new();
    while seen.insert(current) {
        match tag_info(repo, current) {
            Ok(Some(tag)) => current = tag.target,
            Ok(None) => return current,
            Err(_) => return oid,
        }
    }
    oid
}

/// The tag object `oid`, or `None` when `oid` is not a tag (or is missing).
fn tag_info(repo: &gix::Repository, oid: ObjectId) -> Result<Option<TagInfo>, Error> {
    let Ok(Some(object)) = repo.try_find_object(oid) else {
        return Ok(None);
    };
    if object.kind != Kind::Tag {
        return Ok(None);
    }
    let tag = gix::objs::TagRef::from_bytes(&object.data, oid.kind())
        .map_err(|e| Error::scanner_with("git", format!("cannot parse tag object {oid}"), e))?;
    let date = tag
        .tagger()
        .ok()
        .flatten()
        .and_then(|s| s.time().ok())
        .map_or(0, |t| t.seconds);
    Ok(Some(TagInfo {
        name: tag.name.to_vec(),
        date,
        target: tag.target(),
    }))
}

/// git's `find_unique_abbrev(oid, DEFAULT_ABBREV)`: `core.abbrev`, or a length from the count
/// of packed objects (at least 7), extended until unique among all objects.
pub(crate) fn abbreviate(repo: &gix::Repository, oid: ObjectId) -> Result<String, Error> {
    use gix::prelude::ObjectIdExt;
    let prefix = oid
        .attach(repo)
        .shorten()
        .map_err(|e| gix_error(format!("cannot abbreviate {oid}"), e))?;
    Ok(prefix.to_string())
}

/// The commit walk of `describe_commit`, with git's flags and queue.
struct Walk<'r> {
    repo: &'r gix::Repository,
    flags: HashMap<ObjectId, u32>,
    commits: HashMap<ObjectId, (i64, Vec<ObjectId>)>,
    shallow: HashSet<ObjectId>,
    /// git's `commit_list` ordered by date, newest first, ties in insertion order.
    queue: VecDeque<ObjectId>,
}

/// git's `struct possible_tag`.
struct PossibleTag<'n> {
    name: &'n Name,
    depth: u64,
    found_order: usize,
    flag_within: u32,
}

impl<'r> Walk<'r> {
    fn new(repo: &'r gix::Repository) -> Result<Walk<'r>, Error> {
        let shallow = repo
            .shallow_commits()
            .map_err(|e| gix_error("cannot read the list of shallow commits", e))?
            .map(|list| list.iter().copied().collect())
            .unwrap_or_default();
        Ok(Walk {
            repo,
            flags: HashMap::new(),
            commits: HashMap::new(),
            shallow,
            queue: VecDeque::new(),
        })
    }

    /// Committer date and parents of `id`, read once.
    fn commit(&mut self, id: ObjectId) -> Result<(i64, Vec<ObjectId>), Error> {
        if let Some(c) = self.commits.get(&id) {
            return Ok(c.clone());
        }
        let commit = self
            .repo
            .find_commit(id)
            .map_err(|e| gix_error(format!("cannot read commit {id}"), e))?;
        let date = commit.committer().ok().map_or(0, |s| s.seconds());
        let parents = if self.shallow.contains(&id) {
            Vec::new()
        } else {
            commit.parent_ids().map(|p| p.detach()).collect()
        };
        self.commits.insert(id, (date, parents.clone()));
        Ok((date, parents))
    }

    fn flags(&self, id: &ObjectId) -> u32 {
        self.flags.get(id).copied().unwrap_or(0)
    }

    /// git's `commit_list_insert_by_date`: before the first commit strictly older.
    fn insert_by_date(&mut self, id: ObjectId) -> Result<(), Error> {
        let date = self.commit(id)?.0;
        let mut at = self.queue.len();
        for (i, queued) in self.queue.iter().enumerate() {
            if self.commits[queued].0 < date {
                at = i;
                break;
            }
        }
        self.queue.insert(at, id);
        Ok(())
    }

    /// Queues the parents of `c`, passing `c`'s flags on to them.
    fn queue_parents(&mut self, c: ObjectId) -> Result<(), Error> {
        let parents = self.commit(c)?.1;
        let c_flags = self.flags(&c);
        for p in parents {
            if self.flags(&p) & SEEN == 0 {
                self.insert_by_date(p)?;
            }
            *self.flags.entry(p).or_insert(0) |= c_flags;
        }
        Ok(())
    }

    /// The best name for `head` and its depth, or `None` when no name is reachable.
    fn run<'n>(
        &mut self,
        head: ObjectId,
        names: &'n HashMap<ObjectId, Name>,
    ) -> Result<Option<(&'n Name, u64)>, Error> {
        let mut matches: Vec<PossibleTag<'n>> = Vec::new();
        let mut annotated = 0usize;
        let mut seen_commits = 0u64;
        let mut gave_up_on = None;
        self.flags.insert(head, SEEN);
        self.commit(head)?;
        self.queue.push_back(head);
        while let Some(c) = self.queue.pop_front() {
            seen_commits += 1;
            if let Some(name) = names.get(&c) {
                if matches.len() < MAX_CANDIDATES {
                    let order = matches.len() + 1;
                    let flag_within = 1u32 << order;
                    matches.push(PossibleTag {
                        name,
                        depth: seen_commits - 1,
                        found_order: order,
                        flag_within,
                    });
                    *self.flags.entry(c).or_insert(0) |= flag_within;
                    if name.prio == 2 {
                        annotated += 1;
                    }
                } else {
                    gave_up_on = Some(c);
                    break;
                }
            }
            let c_flags = self.flags(&c);
            for t in &mut matches {
                if c_flags & t.flag_within == 0 {
                    t.depth += 1;
                }
            }
            // Stop if the last remaining path is already covered by the best candidate(s).
            if annotated > 0 && self.queue.is_empty() {
                let mut best_depth = u64::MAX;
                let mut best_within = 0u32;
                for t in &matches {
                    if t.depth < best_depth {
                        best_depth = t.depth;
                        best_within = t.flag_within;
                    } else if t.depth == best_depth {
                        best_within |= t.flag_within;
                    }
                }
                if c_flags & best_within == best_within {
                    break;
                }
            }
            self.queue_parents(c)?;
        }
        if matches.is_empty() {
            return Ok(None);
        }
        matches.sort_by(|a, b| {
            a.depth
                .cmp(&b.depth)
                .then(a.found_order.cmp(&b.found_order))
        });
        if let Some(c) = gave_up_on {
            self.insert_by_date(c)?;
        }
        let best = &mut matches[0];
        self.finish_depth(best)?;
        Ok(Some((best.name, best.depth)))
    }

    /// git's `finish_depth_computation`.
    fn finish_depth(&mut self, best: &mut PossibleTag<'_>) -> Result<(), Error> {
        while let Some(c) = self.queue.pop_front() {
            if self.flags(&c) & best.flag_within != 0 {
                if self
                    .queue
                    .iter()
                    .all(|i| self.flags(i) & best.flag_within != 0)
                {
                    break;
                }
            } else {
                best.depth += 1;
            }
            self.queue_parents(c)?;
        }
        Ok(())
    }
}

//! What a bundle's `.gitcommit` records.

/// The commit that was deployed: what [`head_commit`](crate::head_commit) reads and the
/// bundle's `.gitcommit` file records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitCommit {
    /// The full hexadecimal hash of `HEAD`.
    pub hash: String,
    /// Exactly what `git describe --all` prints, without the trailing newline; empty where git
    /// would fail ("No names found"), and then `.gitcommit` holds the hash line only.
    pub describe: String,
}

//! Walking an error's causes.

use std::error::Error as StdError;
use std::io;

/// `error` and its causes, outermost first, including the errors that `io::Error`s wrap.
///
/// `io::Error::source()` skips the error it wraps (it returns that error's source), so an
/// [`Error`](crate::Error) passed through a reader as `io::Error::other(…)` would otherwise be
/// seen only through the `io::Error`'s `Display` and never found by a downcast. A wrapped error
/// is yielded right after its `io::Error`, whose message is usually the same text: callers
/// that print the chain leave out a cause that repeats the previous one.
///
/// ```
/// use std::io;
/// let inner = spiro_scanner::Error::scanner("fs", "gone");
/// let outer = io::Error::other(inner);
/// let found = spiro_scanner::error_chain(&outer)
///     .find_map(|e| e.downcast_ref::<spiro_scanner::Error>());
/// assert!(found.is_some());
/// ```
pub fn error_chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    Chain {
        next: Some(error),
        resume: None,
    }
}

struct Chain<'a> {
    /// The error to yield next.
    next: Option<&'a (dyn StdError + 'static)>,
    /// Where the chain goes on once the errors wrapped by `io::Error`s are done: the
    /// `source()` of the outermost `io::Error` of the current run.
    resume: Option<Option<&'a (dyn StdError + 'static)>>,
}

impl<'a> Iterator for Chain<'a> {
    type Item = &'a (dyn StdError + 'static);

    fn next(&mut self) -> Option<Self::Item> {
        let current = self.next?;
        let wrapped = current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .map(|inner| inner as &(dyn StdError + 'static));
        match wrapped {
            Some(inner) => {
                // Remember the io::Error's own source only for the outermost of a run of
                // nested io::Errors, as it is the one the chain resumes from.
                if self.resume.is_none() {
                    self.resume = Some(current.source());
                }
                self.next = Some(inner);
            }
            None => {
                self.next = match self.resume.take() {
                    Some(resume) => resume,
                    None => current.source(),
                };
            }
        }
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner(#[source] Leaf);

    #[derive(Debug, thiserror::Error)]
    #[error("leaf")]
    struct Leaf;

    #[test]
    fn descends_into_the_error_an_io_error_wraps() {
        let error = Outer(io::Error::other(Inner(Leaf)));
        let texts: Vec<String> = error_chain(&error).map(|e| e.to_string()).collect();
        assert_eq!(texts, ["outer", "inner", "inner", "leaf"]);
        assert!(error_chain(&error).any(|e| e.is::<Inner>()));
    }

    #[test]
    fn plain_chains_are_walked_as_source_walks_them() {
        let error = Inner(Leaf);
        let texts: Vec<String> = error_chain(&error).map(|e| e.to_string()).collect();
        assert_eq!(texts, ["inner", "leaf"]);
    }
}

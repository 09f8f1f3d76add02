//! The registry of names written so far: no name twice, nothing below a file or symlink.

use std::collections::HashMap;

use spiro_scanner::EntryName;

use crate::Error;

/// Every name written, and every directory those names imply, each with where it came from.
#[derive(Default)]
pub(super) struct WrittenNames {
    /// Every name written, with the index of its origin in `origins`, to refuse duplicates.
    seen: HashMap<EntryName, usize>,
    /// Every directory the names written so far imply (`a` and `a/b` for `a/b/c`), with the
    /// origin of the first entry below it: a file or symlink may not take such a name, and
    /// nothing may be written below a file or symlink.
    dirs: HashMap<Vec<u8>, usize>,
    origins: Vec<String>,
}

impl WrittenNames {
    /// Records `name`, from `origin`, or says why it cannot be written.
    pub(super) fn insert(&mut self, name: &EntryName, origin: String) -> crate::Result<()> {
        let index = match self.origins.last() {
            Some(last) if *last == origin => self.origins.len() - 1,
            _ => {
                self.origins.push(origin);
                self.origins.len() - 1
            }
        };
        if let Some(&first) = self.seen.get(name) {
            return Err(Error::Duplicate {
                name: name.to_string(),
                first: self.origins[first].clone(),
                second: self.origins[index].clone(),
            });
        }
        // A tar that holds `link -> /etc` and then `link/passwd` makes the extractor write
        // through the link: the SpiroFS server would write outside the deployment. So no entry
        // may sit below a file or symlink, in either order.
        if let Some(&first) = self.dirs.get(name.as_bytes()) {
            return Err(Error::PathConflict {
                entry: format!("{name}/…"),
                parent: name.to_string(),
                first: self.origins[first].clone(),
                second: self.origins[index].clone(),
            });
        }
        let bytes = name.as_bytes();
        for (end, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'/') {
            let parent = &bytes[..end];
            if let Some((parent_name, &first)) = self.seen.get_key_value(parent) {
                return Err(Error::PathConflict {
                    entry: name.to_string(),
                    parent: parent_name.to_string(),
                    first: self.origins[first].clone(),
                    second: self.origins[index].clone(),
                });
            }
        }
        for (end, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'/') {
            self.dirs.entry(bytes[..end].to_vec()).or_insert(index);
        }
        self.seen.insert(name.clone(), index);
        Ok(())
    }
}

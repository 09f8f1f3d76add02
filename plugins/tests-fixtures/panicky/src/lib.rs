//! A scanner plugin that panics where the scanned root's directory name says, so the tests can
//! check that the SDK keeps every panic on the plugin's side and reports it as an error:
//!
//! - `panic-in-new`, `panic-in-scan`: in the constructor, or when the scan starts;
//! - `panic-in-next`: yields `ok.txt`, then panics;
//! - `panic-in-read`: yields `boom.txt` (10 bytes), whose reader gives 4 bytes, then panics;
//! - `ask-twice`: asks `should_skip` about `a` and `b` and yields those not skipped;
//! - anything else: yields `ok.txt` ("ok\n").
//!
//! The option `mode=MODE` overrides the directory name; `mode=panic-in-options` panics while
//! the options are read.

#![forbid(unsafe_code)]

use std::io::{self, Read};
use std::path::Path;

use spiro_plugin_sdk::{PluginOptions, PluginScanner};
use spiro_scanner::{
    Candidate, Entries, Entry, EntryName, Error, OptionError, OptionInfo, OptionReader, Scanner,
    ShouldSkip,
};

/// See the crate documentation.
pub struct Panicky {
    mode: String,
}

impl PluginScanner for Panicky {
    const NAME: &'static str = "panicky";
    const DESCRIPTION: &'static str = "A test fixture that panics on demand";
    type Options = PanickyOptions;

    fn new(root: &Path, options: &PanickyOptions) -> Result<Self, Error> {
        let mode = match &options.mode {
            Some(mode) => mode.clone(),
            None => root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        if mode == "panic-in-new" {
            panic!("the constructor gave up");
        }
        Ok(Panicky { mode })
    }
}

/// See the crate documentation.
pub struct PanickyOptions {
    mode: Option<String>,
}

impl PluginOptions for PanickyOptions {
    const OPTIONS: &'static [OptionInfo] = &[OptionInfo::new(
        "mode",
        "what to do, instead of the root directory's name",
        "",
    )];

    fn from_options(options: &OptionReader<'_>) -> Result<Self, OptionError> {
        let mode = options.str("mode");
        if mode == "panic-in-options" {
            panic!("the options were too much");
        }
        Ok(PanickyOptions {
            mode: options.is_given("mode").then(|| mode.to_owned()),
        })
    }
}

spiro_plugin_sdk::export_scanner!(Panicky);

fn file<'s>(name: &str, content: &'static [u8]) -> Entry<'s> {
    Entry::file(
        EntryName::new(name).unwrap(),
        content.len() as u64,
        false,
        0,
        move || Ok(Box::new(content) as Box<dyn Read>),
    )
}

struct PanicsAfter {
    given: bool,
}

impl Read for PanicsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.given {
            panic!("the reader fell over");
        }
        self.given = true;
        let n = buf.len().min(4);
        buf[..n].copy_from_slice(&b"boom"[..n]);
        Ok(n)
    }
}

impl Scanner for Panicky {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        match self.mode.as_str() {
            "panic-in-scan" => panic!("the scan could not start"),
            "panic-in-next" => {
                let mut n = 0;
                Ok(Box::new(std::iter::from_fn(move || {
                    n += 1;
                    match n {
                        1 => Some(Ok(file("ok.txt", b"ok\n"))),
                        _ => panic!("the iterator broke"),
                    }
                })))
            }
            "panic-in-read" => {
                let entry = Entry::file(EntryName::new("boom.txt").unwrap(), 10, false, 0, || {
                    Ok(Box::new(PanicsAfter { given: false }) as Box<dyn Read>)
                });
                Ok(Box::new(std::iter::once(Ok(entry))))
            }
            "ask-twice" => {
                let names = ["a", "b"].into_iter().filter(move |name| {
                    !should_skip(&Candidate {
                        path: Path::new(name),
                        is_dir: false,
                    })
                });
                Ok(Box::new(names.map(|name| Ok(file(name, b"x")))))
            }
            _ => Ok(Box::new(std::iter::once(Ok(file("ok.txt", b"ok\n"))))),
        }
    }
}

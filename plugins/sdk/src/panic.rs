//! Keeps panics on the plugin's side of the boundary.
//!
//! Unwinding out of an `extern "C"` function aborts the process (or worse, with another
//! compiler), so every call the host makes runs inside [`guard`], which turns a panic into an
//! error message. A panic hook, installed on first use, records the message and the place of a
//! panic raised inside a guarded call instead of printing it: a plugin is a library and must not
//! write to the host's terminal. Panics outside guarded calls go to the previous hook, so a host
//! that links a plugin crate as an `rlib` (as tests do) keeps its own behaviour.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many guarded calls are running on this thread.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The message and place of the last panic inside a guarded call.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) == 0 {
                return previous(info);
            }
            let message = payload_text(info.payload());
            let text = match info.location() {
                Some(at) => format!("{message} at {}:{}:{}", at.file(), at.line(), at.column()),
                None => message.to_owned(),
            };
            LAST.with(|last| *last.borrow_mut() = Some(text));
        }));
    });
}

/// Runs `f`, turning a panic into `Err("panicked: <message> at <file:line:col>")`.
pub(crate) fn guard<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    result.map_err(|payload| {
        let recorded = LAST.with(|last| last.borrow_mut().take());
        let message = recorded.unwrap_or_else(|| payload_text(&*payload));
        // Dropping the payload runs arbitrary code, which could panic again.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        format!("panicked: {message}")
    })
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a non-string payload)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_place() {
        let err = guard(|| -> u32 { panic!("boom {}", 42) }).unwrap_err();
        assert!(err.starts_with("panicked: boom 42 at "), "{err}");
        assert!(err.contains("panic.rs"), "{err}");
        assert_eq!(guard(|| 7), Ok(7));
    }
}

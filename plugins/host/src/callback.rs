//! The `should_skip` context as a checked handle, so that no plugin can make the host
//! dereference a dead or foreign pointer through it.
//!
//! The host never passes a plugin a pointer to its own memory as `skip_ctx`: it passes a token
//! (a scan's serial in the high half of a pointer-sized value, the call's sequence number in the
//! low half) that is never dereferenced. A registry of the scans alive in this process maps each
//! serial to the one call of that scan running now, if any: where its context is, and on which
//! thread. A callback is served only if its token names that running call and it comes from
//! that call's thread, which means the call's frame (holding the context) is below the
//! callback's on the same stack, so alive. Anything else (a token kept from an earlier call, a
//! call from another thread, a made-up token) is refused and recorded against the scan, which
//! then ends with an error naming the plugin. The registry holds one small record per live
//! scan, whatever the number of calls.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

/// How a plugin misused the `should_skip` context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Misuse {
    /// It called back with a context of this scan after the call that passed it had returned.
    Late,
    /// It called back from a thread other than the one running the call that passed it.
    OtherThread,
    /// It called back with a context the host never passed, or of a scan that is over.
    Forged,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Misuse::Late => {
                "called should_skip outside scan_next: with a context kept from a call that had \
                 returned (it is valid only during the call that passes it)"
            }
            Misuse::OtherThread => {
                "called should_skip from another thread than the one running the call that \
                 passed it"
            }
            Misuse::Forged => "called should_skip with a context the host never passed",
        })
    }
}

/// Bits of a token that hold the call's sequence number; the serial is above them.
const SEQ_BITS: u32 = usize::BITS / 2;
const SEQ_MASK: usize = (1 << SEQ_BITS) - 1;
/// Serials run from 1 (so no token is NULL) to this.
const MAX_SERIAL: usize = usize::MAX >> SEQ_BITS;

struct ScanRecord {
    /// The sequence number of the latest call opened.
    seq: usize,
    /// The call running now.
    running: Option<Running>,
    /// The first misuse seen, until the scan collects it.
    misuse: Option<Misuse>,
}

struct Running {
    seq: usize,
    thread: ThreadId,
    /// The address of the host's context for this call; only ever dereferenced by a callback
    /// on `thread` while the call runs.
    ctx: usize,
}

struct Registry {
    next_serial: usize,
    scans: BTreeMap<usize, ScanRecord>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_serial: 1,
    scans: BTreeMap::new(),
});

thread_local! {
    /// The scan whose call runs innermost on this thread: a made-up token is charged to it.
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn registry() -> MutexGuard<'static, Registry> {
    // The registry's records stay consistent at every point a panic could happen.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One scan's entry in the registry, removed when dropped.
pub(crate) struct ScanCallbacks {
    serial: usize,
}

impl ScanCallbacks {
    /// Registers a scan.
    pub(crate) fn new() -> ScanCallbacks {
        let mut registry = registry();
        // Serials wrap only after `MAX_SERIAL` scans; skip any still in use.
        let serial = loop {
            let serial = registry.next_serial;
            registry.next_serial = if serial >= MAX_SERIAL { 1 } else { serial + 1 };
            if !registry.scans.contains_key(&serial) {
                break serial;
            }
        };
        registry.scans.insert(
            serial,
            ScanRecord {
                seq: 0,
                running: None,
                misuse: None,
            },
        );
        ScanCallbacks { serial }
    }

    /// Opens the window for one call to the plugin that passes `ctx`, on this thread: the
    /// returned guard's [`token`](RunningCall::token) is what the plugin gets as `skip_ctx`.
    /// `ctx` must stay valid until the guard is dropped.
    pub(crate) fn call(&self, ctx: *mut c_void) -> RunningCall<'_> {
        let seq = {
            let mut registry = registry();
            let record = registry
                .scans
                .get_mut(&self.serial)
                .expect("a scan stays registered while its ScanCallbacks lives");
            record.seq = (record.seq + 1) & SEQ_MASK;
            record.running = Some(Running {
                seq: record.seq,
                thread: thread::current().id(),
                ctx: ctx as usize,
            });
            record.seq
        };
        let outer = CURRENT.replace(Some(self.serial));
        RunningCall {
            scan: self,
            token: (self.serial << SEQ_BITS) | seq,
            outer,
        }
    }

    /// The first misuse of this scan's contexts since the last time, if any.
    pub(crate) fn take_misuse(&self) -> Option<Misuse> {
        registry()
            .scans
            .get_mut(&self.serial)
            .and_then(|record| record.misuse.take())
    }
}

impl Drop for ScanCallbacks {
    fn drop(&mut self) {
        registry().scans.remove(&self.serial);
    }
}

/// A call to the plugin in progress; closes its window when dropped.
pub(crate) struct RunningCall<'a> {
    scan: &'a ScanCallbacks,
    token: usize,
    outer: Option<usize>,
}

impl RunningCall<'_> {
    /// The `skip_ctx` to pass the plugin: a token, not an address.
    pub(crate) fn token(&self) -> *mut c_void {
        // Never dereferenced; `without_provenance` says so.
        std::ptr::without_provenance_mut(self.token)
    }
}

impl Drop for RunningCall<'_> {
    fn drop(&mut self) {
        if let Some(record) = registry().scans.get_mut(&self.scan.serial) {
            record.running = None;
        }
        CURRENT.set(self.outer);
    }
}

/// The host context a callback with `token` may use, or `None` if the callback must be refused
/// (the misuse is then recorded against the scan concerned). A returned address is that of the
/// context of a call that is running on this thread now.
pub(crate) fn resolve(token: *mut c_void) -> Option<*mut c_void> {
    let token = token as usize;
    let (serial, seq) = (token >> SEQ_BITS, token & SEQ_MASK);
    let here = thread::current().id();
    let mut registry = registry();
    let misuse = match registry.scans.get_mut(&serial) {
        Some(record) => {
            let misuse = match &record.running {
                Some(running) if running.seq == seq && running.thread == here => {
                    return Some(running.ctx as *mut c_void);
                }
                Some(running) if running.seq == seq => Misuse::OtherThread,
                _ if seq != 0 && seq <= record.seq => Misuse::Late,
                _ => Misuse::Forged,
            };
            record.misuse.get_or_insert(misuse);
            return None;
        }
        None => Misuse::Forged,
    };
    // No live scan of that serial: charge the scan whose call runs on this thread, if any (the
    // plugin making this call is the one running).
    let current = CURRENT.try_with(Cell::get).ok().flatten();
    if let Some(record) = current.and_then(|serial| registry.scans.get_mut(&serial)) {
        record.misuse.get_or_insert(misuse);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(value: &mut u8) -> *mut c_void {
        (value as *mut u8).cast()
    }

    #[test]
    fn only_the_running_call_on_its_thread_resolves() {
        let mut value = 0u8;
        let scan = ScanCallbacks::new();
        let first = scan.call(ctx(&mut value));
        let kept = first.token() as usize;
        assert_eq!(resolve(first.token()), Some(ctx(&mut value)));
        assert_eq!(scan.take_misuse(), None);

        let token = kept;
        let from_elsewhere =
            thread::spawn(move || resolve(std::ptr::without_provenance_mut(token)).is_some());
        assert!(!from_elsewhere.join().unwrap());
        assert_eq!(scan.take_misuse(), Some(Misuse::OtherThread));
        drop(first);

        assert_eq!(resolve(std::ptr::without_provenance_mut(kept)), None);
        assert_eq!(scan.take_misuse(), Some(Misuse::Late));

        let second = scan.call(ctx(&mut value));
        assert_eq!(resolve(std::ptr::without_provenance_mut(kept)), None);
        assert_eq!(resolve(std::ptr::without_provenance_mut(12345)), None);
        assert_eq!(resolve(std::ptr::null_mut()), None);
        // The first misuse is the one reported.
        assert_eq!(scan.take_misuse(), Some(Misuse::Late));
        assert_eq!(resolve(second.token()), Some(ctx(&mut value)));
        drop(second);
        assert_eq!(resolve(std::ptr::without_provenance_mut(12345)), None);
        assert_eq!(scan.take_misuse(), None, "nothing runs: nobody to charge");
    }
}

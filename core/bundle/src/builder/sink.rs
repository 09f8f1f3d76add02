//! Where a builder's entries go: a tar stream, a listing of names, or a count of the bytes a
//! tar stream would have. One type per sink, behind a small trait.

use std::io::{self, BufWriter, Read, Write};

use spiro_scanner::{EntryKind, EntryName, bytes_path};

use crate::Error;

/// The output buffer: file contents are read straight into it and it is written out whole, so a
/// big artifact moves in few syscalls and every byte is copied once in user space.
pub(super) const WRITE_BUFFER: usize = 256 * 1024;

/// The largest file a bundle may hold, and the largest bundle: `i64::MAX` bytes.
///
/// The GNU tar header's base-256 size field can encode any `u64`, so the format itself does not
/// stop lower; but extractors keep sizes and offsets in a signed 64-bit `off_t` (GNU tar,
/// libarchive, the kernel's file offsets), so anything larger cannot be extracted anywhere. A
/// size past it can only be a scanner's or plugin's mistake (or a hostile git blob header), and
/// is refused naming the entry instead of being written, or counted, as if real.
pub const MAX_ENTRY_SIZE: u64 = i64::MAX as u64;
/// The largest bundle, in bytes (see [`MAX_ENTRY_SIZE`]): the total is checked, not wrapped.
pub const MAX_BUNDLE_SIZE: u64 = i64::MAX as u64;

/// What a builder does with each entry once its name has been accepted.
pub(super) trait Sink {
    /// Writes (or lists, or counts) one entry; `mtime` is already clamped.
    fn append(&mut self, name: &EntryName, kind: EntryKind<'_>, mtime: u64) -> crate::Result<()>;

    /// Whether the builder's [`Stats`](super::Stats) count what this sink is given.
    fn keeps_stats(&self) -> bool {
        true
    }
}

/// The real thing: an uncompressed tar.
pub(super) struct TarSink<W: Write> {
    tar: tar::Builder<OutBuf<W>>,
    /// An entry failed after part of it was written: the stream is no tar any more, so
    /// nothing more is appended and it is never finished as if whole.
    broken: bool,
    /// The length announced for the whole stream ([`TarSink::announced_len`]).
    announced: u64,
}

/// The two zero blocks that end a tar.
const END_MARKER: u64 = 1024;

impl<W: TakeBuffers> TarSink<W> {
    /// The sink handing its filled buffers to `out` whole (see [`TakeBuffers`]).
    pub(super) fn handing_buffers(out: W) -> TarSink<W> {
        TarSink::with_out_buf(OutBuf::new(out, hand_over))
    }
}

impl<W: Write> TarSink<W> {
    pub(super) fn new(out: W) -> TarSink<W> {
        TarSink::with_out_buf(OutBuf::new(out, write_out))
    }

    fn with_out_buf(out: OutBuf<W>) -> TarSink<W> {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        tar.follow_symlinks(false);
        TarSink {
            tar,
            broken: false,
            announced: u64::MAX,
        }
    }

    /// Makes writing past `len` bytes in all an error naming the entry that crosses it.
    pub(super) fn announced_len(&mut self, len: u64) {
        // Entries may take all but the two-block end marker that `finish` writes.
        self.tar.get_mut().limit = len.saturating_sub(END_MARKER);
        self.announced = len;
    }

    pub(super) fn finish(self) -> crate::Result<W> {
        if self.broken {
            return Err(Error::Incomplete);
        }
        let mut tar = self.tar;
        let limit = self.announced;
        tar.get_mut().limit = limit;
        tar.into_inner()
            .and_then(OutBuf::into_inner)
            .map_err(|e| past_announced(e, limit, "the end-of-archive marker"))
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn append(&mut self, name: &EntryName, kind: EntryKind<'_>, mtime: u64) -> crate::Result<()> {
        if self.broken {
            return Err(Error::Incomplete);
        }
        let tar = &mut self.tar;
        // A file is opened before anything of it is written, so a file that cannot be
        // opened leaves no header behind.
        let (head, reader) = match kind {
            EntryKind::File {
                size,
                executable,
                open,
            } => (
                Head::File { size, executable },
                Some(ExactReader {
                    inner: open()?,
                    remaining: size,
                    expected: size,
                    name,
                    failure: None,
                }),
            ),
            EntryKind::Symlink { target } => (Head::Symlink { target }, None),
        };
        // tar writes the header (and a long-name entry before it, if needed); the
        // content is read straight into the output buffer rather than through the
        // 8 KiB stack buffer of `tar`'s `io::copy`. The bytes are the same: header,
        // content, zeros to the next 512-byte block.
        let written = append_head(tar, name, &head, mtime);
        let result = if let Some(mut reader) = reader {
            let copied = written.and_then(|()| tar.get_mut().copy_entry(&mut reader));
            match reader.failure {
                Some(failure) => Err(failure),
                None => copied.map_err(Error::Write),
            }
        } else {
            written.map_err(Error::Write)
        };
        let limit = self.announced;
        let result = result.map_err(|e| match e {
            Error::Write(e) => past_announced(e, limit, &format!("`{name}`")),
            other => other,
        });
        // Past the opener, any failure leaves part of an entry in the stream.
        self.broken = result.is_err();
        result
    }
}

/// The names of the entries, one per line: what `--list` prints. Opens nothing.
pub(super) struct ListSink<W: Write>(BufWriter<W>);

impl<W: Write> ListSink<W> {
    pub(super) fn new(out: W) -> ListSink<W> {
        ListSink(BufWriter::new(out))
    }

    pub(super) fn finish(self) -> crate::Result<W> {
        self.0
            .into_inner()
            .map_err(|e| Error::Write(e.into_error()))
    }
}

impl<W: Write> Sink for ListSink<W> {
    /// A listing writes names only; it has never counted files or bytes.
    fn keeps_stats(&self) -> bool {
        false
    }

    fn append(&mut self, name: &EntryName, _: EntryKind<'_>, _: u64) -> crate::Result<()> {
        self.0
            .write_all(name.as_bytes())
            .and_then(|()| self.0.write_all(b"\n"))
            .map_err(Error::Write)
    }
}

/// Headers as [`TarSink`] writes them, content counted arithmetically without opening
/// anything: the exact length of the tar. Nothing is written for content (a scanner claiming
/// 2^62 bytes costs one addition, not 2^62 zeros), and every sum is checked.
pub(super) struct CountSink<W> {
    tar: tar::Builder<ByteCount>,
    /// Makes the builder's output out of the count (the identity for `Builder::counting`).
    into_output: fn(ByteCount) -> W,
}

impl<W> CountSink<W> {
    pub(super) fn new(into_output: fn(ByteCount) -> W) -> CountSink<W> {
        let mut tar = tar::Builder::new(ByteCount::default());
        tar.mode(tar::HeaderMode::Deterministic);
        tar.follow_symlinks(false);
        CountSink { tar, into_output }
    }

    pub(super) fn finish(self) -> crate::Result<W> {
        let count = self.tar.into_inner().map_err(Error::Write)?;
        Ok((self.into_output)(count))
    }
}

impl<W> Sink for CountSink<W> {
    fn append(&mut self, name: &EntryName, kind: EntryKind<'_>, mtime: u64) -> crate::Result<()> {
        let (head, size) = match kind {
            EntryKind::File {
                size, executable, ..
            } => (Head::File { size, executable }, size),
            EntryKind::Symlink { target } => (Head::Symlink { target }, 0),
        };
        append_head(&mut self.tar, name, &head, mtime).map_err(Error::Write)?;
        // The content and the zeros that pad it to the next 512-byte block.
        let too_large = || Error::BundleTooLarge {
            name: name.to_string(),
            limit: MAX_BUNDLE_SIZE,
        };
        let padded = size.checked_next_multiple_of(512).ok_or_else(too_large)?;
        let count = self.tar.get_mut();
        count.bytes = count
            .bytes
            .checked_add(padded)
            .filter(|&total| total <= MAX_BUNDLE_SIZE)
            .ok_or_else(too_large)?;
        Ok(())
    }
}

/// What a header says of an entry: its kind without the opener.
enum Head {
    File { size: u64, executable: bool },
    Symlink { target: Vec<u8> },
}

/// The tar header of an entry, before its name (which `tar` sets, with a long-name entry if
/// needed) and checksum.
/// Writes what tar writes of an entry before its content: all of a symlink, and a file's
/// header (after a long-name entry, where the name needs one). Shared by the real and the
/// counting sinks, so that the count is the bundle's length by construction.
fn append_head<T: Write>(
    tar: &mut tar::Builder<T>,
    name: &EntryName,
    head: &Head,
    mtime: u64,
) -> io::Result<()> {
    let mut header = header_for(head, mtime);
    match head {
        Head::Symlink { target } => {
            tar.append_link(&mut header, name.as_path(), bytes_path(target))
        }
        Head::File { .. } => tar.append_data(&mut header, name.as_path(), io::empty()),
    }
}

fn header_for(head: &Head, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    match head {
        Head::Symlink { .. } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
        }
        Head::File { size, executable } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if *executable { 0o755 } else { 0o644 });
            header.set_size(*size);
        }
    }
    header
}

/// What [`Builder::counting`](super::Builder::counting) writes to: nothing, but it counts.
#[derive(Debug, Default)]
pub struct ByteCount {
    bytes: u64,
}

impl ByteCount {
    /// The length of the bundle the same calls on [`Builder::new`](super::Builder::new) write, in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Write for ByteCount {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.bytes = self
            .bytes
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::other("the byte count overflows 64 bits"))?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An output that takes the builder's filled buffers whole instead of having bytes copied out of
/// them by `write`: an upload that queues buffers for its connection, say, where that copy
/// was a whole extra pass over the bundle in user space. See
/// [`Builder::handing_buffers`](crate::Builder::handing_buffers).
pub trait TakeBuffers: Write {
    /// Takes `full`, the next bytes of the stream (all of its length, in order after
    /// everything taken or written before), and returns the buffer the builder fills next.
    ///
    /// Only the returned buffer's length matters: the builder overwrites its bytes, and
    /// resizes it to its own buffer size (so a buffer returned at that length, stale bytes and
    /// all, is reused without being zeroed).
    fn take_buffer(&mut self, full: Vec<u8>) -> io::Result<Vec<u8>>;
}

/// How an [`OutBuf`] passes a full buffer on: written out and kept, or handed over whole.
type HandOff<W> = fn(&mut W, Vec<u8>) -> io::Result<Vec<u8>>;

fn write_out<W: Write>(out: &mut W, full: Vec<u8>) -> io::Result<Vec<u8>> {
    out.write_all(&full)?;
    Ok(full)
}

fn hand_over<W: TakeBuffers>(out: &mut W, full: Vec<u8>) -> io::Result<Vec<u8>> {
    out.take_buffer(full)
}

/// The tar stream's output buffer. Unlike `BufWriter`, it can be filled by a reader directly:
/// [`copy_entry`](OutBuf::copy_entry) reads an entry's content into its free space, so content
/// is copied once (kernel to buffer) before it is passed on, in `WRITE_BUFFER`-sized pieces
/// (written out, or handed over whole to a [`TakeBuffers`] output).
struct OutBuf<W: Write> {
    /// Always `WRITE_BUFFER` bytes long; `len` of them are the stream's.
    buf: Vec<u8>,
    len: usize,
    out: W,
    hand_off: HandOff<W>,
    /// Bytes taken into the stream so far, and how many it may take in all.
    total: u64,
    limit: u64,
}

/// The stream went past the length announced for it (see [`OutBuf::take`]).
#[derive(Debug, thiserror::Error)]
#[error("past the announced length")]
struct PastAnnounced;

/// A write error made [`Error::LongerThanAnnounced`] where it is the stream going past its
/// announced length, naming `what` crossed it.
fn past_announced(error: io::Error, limit: u64, what: &str) -> Error {
    if error.get_ref().is_some_and(|e| e.is::<PastAnnounced>()) {
        Error::LongerThanAnnounced {
            what: what.to_owned(),
            announced: limit,
        }
    } else {
        Error::Write(error)
    }
}

impl<W: Write> OutBuf<W> {
    fn new(out: W, hand_off: HandOff<W>) -> OutBuf<W> {
        OutBuf {
            buf: vec![0; WRITE_BUFFER],
            len: 0,
            out,
            hand_off,
            total: 0,
            limit: u64::MAX,
        }
    }

    /// Counts `n` more bytes into the stream; an error once past the announced length (the
    /// upload's `Content-Length`: a tree that changed between the count and the build).
    fn take(&mut self, n: usize) -> io::Result<()> {
        self.total += n as u64;
        if self.total > self.limit {
            return Err(io::Error::other(PastAnnounced));
        }
        Ok(())
    }

    /// Passes on what is buffered.
    fn flush_buf(&mut self) -> io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let mut full = std::mem::take(&mut self.buf);
        full.truncate(self.len);
        self.len = 0;
        let (mut next, result) = match (self.hand_off)(&mut self.out, full) {
            Ok(next) => (next, Ok(())),
            // The stream is broken now, but the buffer must stay whole.
            Err(e) => (Vec::new(), Err(e)),
        };
        next.resize(WRITE_BUFFER, 0);
        self.buf = next;
        result
    }

    /// Copies `data` to its end into the stream, then zeros to the next 512-byte block, as
    /// `tar::Builder::append_data` does.
    fn copy_entry(&mut self, data: &mut dyn Read) -> io::Result<()> {
        let mut copied = 0u64;
        loop {
            if self.len == self.buf.len() {
                self.flush_buf()?;
            }
            match data.read(&mut self.buf[self.len..]) {
                Ok(0) => break,
                Ok(n) => {
                    self.len += n;
                    copied += n as u64;
                    self.take(n)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let padding = (512 - copied % 512) % 512;
        self.write_all(&[0; 512][..padding as usize])
    }

    fn into_inner(mut self) -> io::Result<W> {
        self.flush_buf()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for OutBuf<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.len == self.buf.len() {
            self.flush_buf()?;
        }
        let n = data.len().min(self.buf.len() - self.len);
        self.take(n)?;
        self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.out.flush()
    }
}

/// Reads exactly the size the scanner announced and records why it could not, so that the
/// builder can tell a failing source (named after its path or entry) from a failing writer.
struct ExactReader<'n, 'r> {
    inner: Box<dyn Read + 'r>,
    remaining: u64,
    expected: u64,
    name: &'n EntryName,
    failure: Option<Error>,
}

impl ExactReader<'_, '_> {
    fn fail(&mut self, error: Error) -> io::Error {
        self.failure = Some(error);
        io::Error::other("the entry's source failed")
    }

    fn size_changed(&mut self, found: String) -> io::Error {
        let error = Error::SizeChanged {
            name: self.name.to_string(),
            expected: self.expected,
            found,
        };
        self.fail(error)
    }

    fn source_error(&mut self, error: io::Error) -> io::Error {
        // Openers' readers report their own errors (naming a path) wrapped in `io::Error`.
        let error = match error.downcast::<spiro_scanner::Error>() {
            Ok(error) => Error::Scan(error),
            Err(error) => match error.downcast::<Error>() {
                Ok(error) => error,
                Err(error) => Error::ReadEntry {
                    name: self.name.to_string(),
                    source: error,
                },
            },
        };
        self.fail(error)
    }
}

impl Read for ExactReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // One more read tells a file that grew from one that ended where announced.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe) {
                Ok(0) => Ok(0),
                Ok(_) => Err(self.size_changed("more bytes when read".into())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
                Err(e) => Err(self.source_error(e)),
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        match self.inner.read(&mut buf[..max]) {
            Ok(0) => {
                let read = self.expected - self.remaining;
                Err(self.size_changed(format!("only {read} when read")))
            }
            Ok(n) => {
                self.remaining -= n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.source_error(e)),
        }
    }
}

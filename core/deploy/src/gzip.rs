//! `--compress`: the bundle gzipped on its way to the server.
//!
//! SpiroFS opens a bundle with Python's auto-detecting `tarfile.open`, so a gzip-compressed tar
//! deploys like a plain one (see PROTOCOL.md). On a slow link that pays: source trees compress
//! to a fraction of their size. On a fast one the compressing costs more than the bytes it
//! saves, so it is off unless asked for.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;

use flate2::write::GzEncoder;

/// gzip compression of the bundle on the wire, at a level from 1 (fastest) to 9 (smallest).
///
/// The compressed stream is deterministic (no timestamp or file name in its header): the same
/// bundle at the same level gives the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gzip {
    level: u32,
}

impl Gzip {
    /// The level `--compress` uses when none is given: gzip's own default, most of level 9's
    /// savings at a fraction of its cost.
    pub const DEFAULT_LEVEL: u32 = 6;

    /// gzip at `level`, or `None` if `level` is not 1 to 9.
    pub fn new(level: u32) -> Option<Gzip> {
        (1..=9).contains(&level).then_some(Gzip { level })
    }

    /// The compression level, 1 to 9.
    pub fn level(&self) -> u32 {
        self.level
    }

    /// A compressor on a worker thread of its own.
    pub(crate) fn compressor(&self) -> io::Result<Compressor> {
        Compressor::start(self.level)
    }

    /// A writer that gzips into `out`, compressing on a worker thread as a compressed upload
    /// does (`--output` with `--compress` uses it).
    pub fn writer<W: Write>(&self, out: W) -> io::Result<GzipWriter<W>> {
        Ok(GzipWriter {
            compressor: self.compressor()?,
            out,
        })
    }
}

/// gzip into a [`Write`], on a worker thread: see [`Gzip::writer`].
///
/// Only [`finish`](GzipWriter::finish) ends the stream. Dropped without it (a bundle that
/// failed halfway), the writer leaves the stream without its trailer, so that what was written
/// fails to decompress instead of reading as a complete, shorter bundle.
pub struct GzipWriter<W: Write> {
    compressor: Compressor,
    out: W,
}

impl<W: Write> GzipWriter<W> {
    /// Writes the rest of the stream and its trailer; returns `out`, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        for piece in self.compressor.finish()? {
            self.out.write_all(&piece?)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes the compressed output ready so far.
    fn write_ready(&mut self) -> io::Result<()> {
        for piece in self.compressor.ready() {
            self.out.write_all(&piece?)?;
        }
        Ok(())
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.compressor.write_all(data)?;
        self.write_ready()?;
        Ok(data.len())
    }

    /// Writes what is compressed so far; what the worker has not finished stays with it (a
    /// gzip stream cannot be cut anywhere without costing size).
    fn flush(&mut self) -> io::Result<()> {
        self.write_ready()?;
        self.out.flush()
    }
}

impl<W: Write> std::fmt::Debug for GzipWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipWriter").finish_non_exhaustive()
    }
}

impl Default for Gzip {
    fn default() -> Gzip {
        Gzip {
            level: Gzip::DEFAULT_LEVEL,
        }
    }
}

/// How much uncompressed bundle goes to the worker at a time.
const PIECE: usize = 256 * 1024;
/// Pieces waiting for the worker: enough to keep it busy while the builder fills the next.
const QUEUED: usize = 2;

/// gzip on a worker thread, so that compressing (most of the work of a compressed upload)
/// runs beside building the bundle rather than after it. Deflate is one sequential stream, so
/// one worker; the caller's thread builds, the runtime's thread sends.
///
/// Memory is bounded: at most [`QUEUED`] pieces wait for the worker, and the caller takes the
/// compressed output after each piece it hands over, so at most a few pieces of output wait.
pub(crate) struct Compressor {
    pending: Vec<u8>,
    input: Option<mpsc::SyncSender<Vec<u8>>>,
    output: mpsc::Receiver<io::Result<Vec<u8>>>,
    worker: Option<thread::JoinHandle<()>>,
}

impl Compressor {
    fn start(level: u32) -> io::Result<Compressor> {
        let (input, pieces) = mpsc::sync_channel::<Vec<u8>>(QUEUED);
        // Unbounded, so the worker never waits on the caller (who may be waiting to hand it
        // a piece); what it holds is bounded by the pieces handed over, see above.
        let (compressed, output) = mpsc::channel();
        let worker = thread::Builder::new()
            .name("spiro-gzip".into())
            .spawn(move || {
                let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::new(level));
                for piece in pieces {
                    let result = encoder
                        .write_all(&piece)
                        .map(|()| std::mem::take(encoder.get_mut()));
                    let failed = result.is_err();
                    if compressed.send(result).is_err() || failed {
                        return;
                    }
                }
                // The caller closed the input: the bundle is complete.
                let _ = compressed.send(encoder.finish());
            })?;
        Ok(Compressor {
            pending: Vec::with_capacity(PIECE),
            input: Some(input),
            output,
            worker: Some(worker),
        })
    }

    /// Takes `data` to compress; blocks while the worker is [`QUEUED`] pieces behind.
    pub(crate) fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = data.len().min(PIECE - self.pending.len());
            self.pending.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.pending.len() == PIECE {
                let piece = std::mem::replace(&mut self.pending, Vec::with_capacity(PIECE));
                self.hand_over(piece)?;
            }
        }
        Ok(())
    }

    fn hand_over(&mut self, piece: Vec<u8>) -> io::Result<()> {
        let gone = || io::Error::other("the gzip worker stopped");
        let input = self.input.as_ref().ok_or_else(gone)?;
        if input.send(piece).is_err() {
            // The worker stopped on an error: it sent the error before it went.
            return Err(self.worker_error().unwrap_or_else(gone));
        }
        Ok(())
    }

    fn worker_error(&mut self) -> Option<io::Error> {
        self.output.try_iter().find_map(Result::err)
    }

    /// The compressed output ready so far, without waiting.
    pub(crate) fn ready(&mut self) -> impl Iterator<Item = io::Result<Vec<u8>>> + '_ {
        self.output.try_iter()
    }

    /// Ends the stream: hands over the last piece and returns every output still to come,
    /// the gzip trailer last, waiting for the worker.
    pub(crate) fn finish(&mut self) -> io::Result<impl Iterator<Item = io::Result<Vec<u8>>> + '_> {
        let last = std::mem::take(&mut self.pending);
        if !last.is_empty() {
            self.hand_over(last)?;
        }
        // Closing the input tells the worker to write the trailer and stop.
        self.input = None;
        if let Some(worker) = self.worker.take() {
            worker
                .join()
                .map_err(|_| io::Error::other("the gzip worker panicked"))?;
        }
        Ok(self.output.try_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_writer_finished_gives_the_stream_and_one_dropped_leaves_it_unfinished() {
        let data: Vec<u8> = (0..3 * PIECE as u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut writer = Gzip::default().writer(Vec::new()).unwrap();
        writer.write_all(&data).unwrap();
        let compressed = writer.finish().unwrap();
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, data);

        let mut shared = Vec::new();
        {
            let mut writer = Gzip::default().writer(&mut shared).unwrap();
            writer.write_all(&data).unwrap();
            writer.flush().unwrap();
        }
        assert!(!shared.is_empty(), "what was compressed went out");
        let mut inflated = Vec::new();
        let err = flate2::read::GzDecoder::new(&shared[..])
            .read_to_end(&mut inflated)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn levels_outside_one_to_nine_are_refused() {
        assert!(Gzip::new(0).is_none());
        assert!(Gzip::new(10).is_none());
        assert_eq!(Gzip::new(1).unwrap().level(), 1);
        assert_eq!(Gzip::default().level(), 6);
    }

    #[test]
    fn output_taken_as_it_comes_decompresses_to_the_input_and_is_deterministic() {
        let input: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let compress = || {
            let mut compressor = Gzip::default().compressor().unwrap();
            let mut out = Vec::new();
            for piece in input.chunks(7000) {
                compressor.write_all(piece).unwrap();
                for ready in compressor.ready() {
                    out.extend(ready.unwrap());
                }
            }
            for rest in compressor.finish().unwrap() {
                out.extend(rest.unwrap());
            }
            out
        };
        let out = compress();
        assert!(out.len() < input.len() / 4);
        assert_eq!(out, compress());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, input);
    }
}

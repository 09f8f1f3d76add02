//! Object sizes, trees and whole (undeltified) blobs read from the pack files with `pread`,
//! rather than through gix's memory mappings of them.
//!
//! gix maps each pack and index, and every page a lookup touches stays in the process's
//! resident memory while the mapping lives: each lookup faults in the kernel's whole
//! fault-around window (64 KiB) around it, so listing 200,000 blobs made a process as big as
//! their 700 MB pack, and unmapping to stop that costs milliseconds a time. Reading an entry's
//! few header bytes with `pread`, and streaming an object's compressed bytes through a small
//! buffer into the inflater, costs a system call or two and leaves nothing mapped (the page
//! cache still serves the reads). A blob is never held whole this way either. Deltas, which
//! need their bases, are left to gix. One reader serves every thread of a scan.
//!
//! Anything this cannot answer (a loose object, a delta, a pack added after the scan started,
//! an alternate object store, a pack that does not read as expected) is `None`, and the caller
//! asks gix, which also reports any real error: this is a shortcut, never the source of truth.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use gix::ObjectId;
use gix::odb::pack;

/// The packs of one object store, opened for reading with `pread`.
pub(crate) struct Packs {
    packs: Vec<Arc<Pack>>,
}

struct Pack {
    index: Index,
    /// The `.pack` file's path, for errors.
    path: std::path::PathBuf,
    data: File,
    len: u64,
}

/// A pack index (version 2) read with `pread` too: gix reads one only through a mapping, and
/// random lookups make all of it resident (27 MiB at a million objects). Only the fan-out
/// table (and, for up to 2 million objects, the offsets) is kept; object ids are uniformly
/// distributed, so interpolating within a fan-out bucket finds an id in one read of a few
/// kilobytes, rarely two.
struct Index {
    file: File,
    hash: gix::hash::Kind,
    /// How many objects have ids whose first byte is at most the position.
    fan_out: [u32; 256],
    /// The table of (31-bit) pack offsets, read whole when it is at most
    /// [`MAX_CACHED_OFFSETS`] bytes: it saves a read a lookup for 4 bytes an object.
    offsets: Option<Vec<u8>>,
}

/// The largest table of offsets kept in memory (2 million objects).
const MAX_CACHED_OFFSETS: u64 = 8 * 1024 * 1024;

/// Object ids read around the interpolated position, at most.
const INDEX_WINDOW: u32 = 128;
/// The longest object id (SHA-256).
const MAX_HASH_LEN: usize = 32;
/// The size of the index header and fan-out table.
const INDEX_TABLES: u64 = 8 + 256 * 4;

impl Index {
    /// The index at `path` if it is a version 2 index (the only one written since 2009);
    /// with the pack checksum it records.
    fn open(path: &Path, hash: gix::hash::Kind) -> Option<(Index, Vec<u8>)> {
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        let mut tables = vec![0; INDEX_TABLES as usize];
        read_exact_at(&file, &mut tables, 0)?;
        if tables[..8] != [0xff, b't', b'O', b'c', 0, 0, 0, 2] {
            return None;
        }
        let mut fan_out = [0; 256];
        for (at, count) in fan_out.iter_mut().enumerate() {
            let bytes = &tables[8 + 4 * at..][..4];
            *count = u32::from_be_bytes(bytes.try_into().ok()?);
        }
        if fan_out.windows(2).any(|pair| pair[0] > pair[1]) {
            return None;
        }
        let mut index = Index {
            file,
            hash,
            fan_out,
            offsets: None,
        };
        // Ids, CRCs and offsets, at least; then two checksums, the pack's first.
        let hash_len = hash.len_in_bytes() as u64;
        let objects = u64::from(index.count());
        if len < INDEX_TABLES + objects * (hash_len + 8) + 2 * hash_len {
            return None;
        }
        let mut pack_checksum = vec![0; hash_len as usize];
        read_exact_at(&index.file, &mut pack_checksum, len - 2 * hash_len)?;
        if 4 * objects <= MAX_CACHED_OFFSETS {
            let mut offsets = vec![0; 4 * objects as usize];
            read_exact_at(&index.file, &mut offsets, index.offsets_at())?;
            index.offsets = Some(offsets);
        }
        Some((index, pack_checksum))
    }

    fn count(&self) -> u32 {
        self.fan_out[255]
    }

    /// Where the table of offsets starts: after the ids and their CRCs.
    fn offsets_at(&self) -> u64 {
        INDEX_TABLES + u64::from(self.count()) * (self.hash.len_in_bytes() as u64 + 4)
    }

    /// The pack offset of object `id`, if the index lists it.
    fn offset(&self, id: &ObjectId) -> Option<u64> {
        let at = self.position(id.as_slice())?;
        let objects = u64::from(self.count());
        let offsets = self.offsets_at();
        let mut small = [0; 4];
        match &self.offsets {
            Some(cached) => small.copy_from_slice(cached.get(4 * at as usize..)?.get(..4)?),
            None => read_exact_at(&self.file, &mut small, offsets + 4 * u64::from(at))?,
        }
        let small = u32::from_be_bytes(small);
        if small & 0x8000_0000 == 0 {
            return Some(u64::from(small));
        }
        let mut large = [0; 8];
        let large_at = offsets + 4 * objects + 8 * u64::from(small & 0x7fff_ffff);
        read_exact_at(&self.file, &mut large, large_at)?;
        Some(u64::from_be_bytes(large))
    }

    /// Where `id` is in the sorted table of ids.
    fn position(&self, id: &[u8]) -> Option<u32> {
        // An id's place is within about half the square root of the bucket's size of where
        // interpolation puts it (a binomial spread): three times that is one read nearly always.
        let (low, high) = self.bucket(id[0]);
        let bucket = high.saturating_sub(low);
        self.position_reading(id, (3 * bucket.isqrt()).clamp(16, INDEX_WINDOW))
    }

    /// The positions `low..high` of the ids whose first byte is `first`.
    fn bucket(&self, first: u8) -> (u32, u32) {
        let first = usize::from(first);
        let low = if first == 0 {
            0
        } else {
            self.fan_out[first - 1]
        };
        (low, self.fan_out[first])
    }

    /// [`position`](Self::position), reading `window` ids at a time (at most
    /// [`INDEX_WINDOW`]).
    fn position_reading(&self, id: &[u8], window_ids: u32) -> Option<u32> {
        let window_ids = window_ids.clamp(1, INDEX_WINDOW);
        // The id is in `low..high`, if it is listed at all.
        let (mut low, mut high) = self.bucket(id[0]);
        let hash_len = id.len();
        // Where `id` would be were the ids of the bucket evenly spread.
        let fraction = u64::from_be_bytes(id[1..9].try_into().ok()?);
        let guess = low + ((u128::from(high - low) * u128::from(fraction)) >> 64) as u32;
        let mut start = guess.saturating_sub(window_ids / 2);
        // On the stack: an allocation per lookup would fragment the heap around the
        // registry of names as it grows.
        let mut window = [0; INDEX_WINDOW as usize * MAX_HASH_LEN];
        while low < high {
            start = start.clamp(low, high - 1);
            let end = (start + window_ids).min(high);
            let ids = &mut window[..(end - start) as usize * hash_len];
            let at = INDEX_TABLES + u64::from(start) * hash_len as u64;
            read_exact_at(&self.file, ids, at)?;
            let (mut below, mut above) = (0, end - start);
            while below < above {
                let middle = (below + above) / 2;
                let listed = &ids[middle as usize * hash_len..][..hash_len];
                match listed.cmp(id) {
                    std::cmp::Ordering::Less => below = middle + 1,
                    std::cmp::Ordering::Greater => above = middle,
                    std::cmp::Ordering::Equal => return Some(start + middle),
                }
            }
            // Not in the window: before it or after it, or not listed.
            if below == 0 && start > low {
                high = start;
                start = high.saturating_sub(window_ids);
            } else if below == end - start && end < high {
                low = end;
                start = low;
            } else {
                return None;
            }
        }
        None
    }
}

/// An entry's header is at most this long: a type and size (10 bytes for a 64-bit size) and a
/// delta's base (a 10-byte offset or an object id of up to 32 bytes).
const MAX_ENTRY_HEADER: usize = 64;

/// How much of a delta's compressed data is read to find its result size at most. The size
/// is in the delta's first 20 bytes, which deflate never spreads over more than this.
const MAX_DELTA_PREFIX: usize = 4096;

impl Packs {
    /// The packs of `repo`'s object store. Packs that cannot be opened or do not match their
    /// index are left out (their objects are then looked up through gix), and with replace
    /// refs in effect none are used, since a replaced object's size is its replacement's.
    pub(crate) fn of(repo: &gix::Repository) -> Packs {
        let store = repo.objects.store_ref();
        if store.replacements().next().is_some() {
            return Packs { packs: Vec::new() };
        }
        let hash = repo.object_hash();
        let mut packs = Vec::new();
        if let Ok(dir) = std::fs::read_dir(store.path().join("pack")) {
            for entry in dir.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "idx")
                    && let Some(pack) = Pack::open(&path, hash)
                {
                    packs.push(Arc::new(pack));
                }
            }
        }
        // A lookup tries each pack in turn, a read or two each: the biggest first, where most
        // objects are (after `git gc` there is one pack; fetches add small ones).
        packs.sort_by_key(|pack| std::cmp::Reverse(pack.index.count()));
        Packs { packs }
    }

    /// The size of object `id` as a pack entry records it (for a delta, the size of the
    /// object it makes); `None` where this cannot tell.
    pub(crate) fn size(&self, id: &ObjectId) -> Option<u64> {
        self.packs.iter().find_map(|pack| pack.size(id))
    }

    /// Object `id` streamed from its pack, if it is stored there whole and is a `kind`;
    /// `None` where this cannot tell, for a delta, and for another kind of object.
    pub(crate) fn open(&self, id: &ObjectId, kind: gix::object::Kind) -> Option<PackedObject> {
        self.packs
            .iter()
            .find_map(|pack| Pack::open_object(pack, id, kind))
    }

    /// Object `id` whole, if [`open`](Self::open) finds it and it reads without error (`None`
    /// leaves the error for gix to find and report).
    pub(crate) fn read(&self, id: &ObjectId, kind: gix::object::Kind) -> Option<Vec<u8>> {
        self.open(id, kind)?.read_whole()
    }
}

/// A whole object inflated from its pack as it is read: a buffer of compressed bytes at a
/// time.
pub(crate) struct PackedObject {
    pack: Arc<Pack>,
    /// Where the entry starts, for errors.
    entry_offset: u64,
    /// The pack offset of the first compressed byte not in `input`.
    next_input: u64,
    input: Vec<u8>,
    /// `input[consumed..]` is still to be inflated.
    consumed: usize,
    inflate: flate2::Decompress,
    size: u64,
    /// Bytes of the object not yet read.
    remaining: u64,
}

/// Compressed bytes read at a time, at most.
const INPUT_BUFFER: usize = 64 * 1024;

/// The first read of an object: its entry's header and the start of its data.
const FIRST_READ: usize = 4096;

impl PackedObject {
    /// The size of the object, as its entry's header records it.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The whole object, if it reads without error (`None` leaves the error for gix to find
    /// and report).
    pub(crate) fn read_whole(mut self) -> Option<Vec<u8>> {
        // The size is the pack's word, which a hostile one can make anything: reserve no more
        // than a buffer's worth up front, so that a lie ends as a short stream, not an abort.
        let mut data = Vec::with_capacity(self.size.min(INPUT_BUFFER as u64) as usize);
        self.read_to_end(&mut data).ok()?;
        Some(data)
    }

    /// The compressed bytes to read next: no more than the rest of the object could take (deflate
    /// adds at most 5 bytes per 16 KiB, and 6 for the zlib framing), so that a small object
    /// costs a small read.
    fn refill(&mut self) -> io::Result<()> {
        let bound = self.remaining + self.remaining / 16_384 * 5 + 64;
        let want = usize::try_from(bound).map_or(INPUT_BUFFER, |b| b.min(INPUT_BUFFER));
        self.input.resize(want, 0);
        let read = read_at(
            &self.pack.data,
            &mut self.input,
            self.next_input,
            self.pack.len,
        )
        .ok_or_else(|| self.corrupt("its compressed data is cut short"))?;
        self.input.truncate(read);
        self.next_input += read as u64;
        self.consumed = 0;
        Ok(())
    }

    /// Inflates into `out` (empty to find the end of the stream); the bytes made, and whether
    /// the stream ended.
    fn inflate_into(&mut self, out: &mut [u8]) -> io::Result<(usize, bool)> {
        if self.consumed == self.input.len() {
            self.refill()?;
        }
        let before = (self.inflate.total_in(), self.inflate.total_out());
        let status = self
            .inflate
            .decompress(
                &self.input[self.consumed..],
                out,
                flate2::FlushDecompress::None,
            )
            .map_err(|e| self.corrupt(&format!("it does not inflate ({e})")))?;
        self.consumed += (self.inflate.total_in() - before.0) as usize;
        let made = (self.inflate.total_out() - before.1) as usize;
        Ok((made, status == flate2::Status::StreamEnd))
    }

    /// After the last byte of the object: the stream must end there (zlib then has checked its
    /// checksum).
    fn check_end(&mut self) -> io::Result<()> {
        let mut extra = [0; 1];
        loop {
            let (made, ended) = self.inflate_into(&mut extra)?;
            if made > 0 {
                return Err(self.corrupt("it is longer than its header says"));
            }
            if ended {
                return Ok(());
            }
        }
    }

    fn corrupt(&self, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the pack entry at offset {} of `{}` is corrupt: {what}",
                self.entry_offset,
                self.pack.path.display()
            ),
        )
    }
}

impl Read for PackedObject {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.remaining == 0 {
            return Ok(0);
        }
        let limit = usize::try_from(self.remaining).map_or(out.len(), |r| r.min(out.len()));
        loop {
            let (made, ended) = self.inflate_into(&mut out[..limit])?;
            self.remaining -= made as u64;
            if self.remaining == 0 {
                if !ended {
                    self.check_end()?;
                }
                return Ok(made);
            }
            if ended {
                return Err(self.corrupt("it is shorter than its header says"));
            }
            if made > 0 {
                return Ok(made);
            }
        }
    }
}

impl Pack {
    /// The pack whose index is at `idx`, if both open and agree: same object count, and the
    /// pack ends with the checksum the index records for it.
    fn open(idx: &Path, hash: gix::hash::Kind) -> Option<Pack> {
        let (index, pack_checksum) = Index::open(idx, hash)?;
        let path = idx.with_extension("pack");
        let data = File::open(&path).ok()?;
        let len = data.metadata().ok()?.len();
        let mut header = [0; 12];
        read_exact_at(&data, &mut header, 0)?;
        let version = u32::from_be_bytes(header[4..8].try_into().ok()?);
        let count = u32::from_be_bytes(header[8..12].try_into().ok()?);
        if &header[..4] != b"PACK" || !matches!(version, 2 | 3) || count != index.count() {
            return None;
        }
        let mut trailer = vec![0; pack_checksum.len()];
        let trailer_at = len.checked_sub(trailer.len() as u64)?;
        read_exact_at(&data, &mut trailer, trailer_at)?;
        if trailer != pack_checksum {
            return None;
        }
        Some(Pack {
            index,
            path,
            data,
            len,
        })
    }

    /// The header of object `id`'s entry, if it is in this pack.
    fn entry(&self, id: &ObjectId) -> Option<pack::data::Entry> {
        let offset = self.index.offset(id)?;
        let mut buf = [0; MAX_ENTRY_HEADER];
        let read = read_at(&self.data, &mut buf, offset, self.len)?;
        pack::data::Entry::from_bytes(&buf[..read], offset, self.index.hash).ok()
    }

    fn open_object(
        pack: &Arc<Pack>,
        id: &ObjectId,
        kind: gix::object::Kind,
    ) -> Option<PackedObject> {
        let offset = pack.index.offset(id)?;
        // The header and the start of the data in one read: all of most small objects.
        let mut input = vec![0; FIRST_READ];
        let read = read_at(&pack.data, &mut input, offset, pack.len)?;
        input.truncate(read);
        let entry = pack::data::Entry::from_bytes(&input, offset, pack.index.hash).ok()?;
        if entry.header.as_kind() != Some(kind) {
            return None;
        }
        Some(PackedObject {
            pack: Arc::clone(pack),
            entry_offset: offset,
            next_input: offset + read as u64,
            consumed: usize::try_from(entry.data_offset - offset).ok()?,
            input,
            inflate: flate2::Decompress::new(true),
            size: entry.decompressed_size,
            remaining: entry.decompressed_size,
        })
    }

    fn size(&self, id: &ObjectId) -> Option<u64> {
        let entry = self.entry(id)?;
        if !entry.header.is_delta() {
            return Some(entry.decompressed_size);
        }
        // A delta starts with the size of its base, then the size of its result.
        let mut inflate = flate2::Decompress::new(true);
        let mut sizes = [0; 20];
        let mut produced = 0;
        let mut input_at = entry.data_offset;
        let mut input = [0; 512];
        while input_at - entry.data_offset < MAX_DELTA_PREFIX as u64 {
            let read = read_at(&self.data, &mut input, input_at, self.len)?;
            let before = (inflate.total_in(), inflate.total_out());
            let status = inflate
                .decompress(
                    &input[..read],
                    &mut sizes[produced..],
                    flate2::FlushDecompress::None,
                )
                .ok()?;
            let (consumed, made) = (
                inflate.total_in() - before.0,
                inflate.total_out() - before.1,
            );
            if consumed == 0 && made == 0 {
                return None;
            }
            input_at += consumed;
            produced += made as usize;
            if let Some(result) = delta_result_size(&sizes[..produced]) {
                return Some(result);
            }
            if status == flate2::Status::StreamEnd || produced == sizes.len() {
                return None;
            }
        }
        None
    }
}

/// The result size of a delta whose data begins with `data`, once both sizes are there.
fn delta_result_size(data: &[u8]) -> Option<u64> {
    let (_, used) = varint(data)?;
    Some(varint(&data[used..])?.0)
}

/// A size as a delta encodes it: 7 bits a byte, least significant first, high bit set on all
/// but the last; with the bytes it took. `None` if `data` ends first or it overflows.
fn varint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (at, byte) in data.iter().enumerate() {
        let shift = 7 * at as u32;
        if shift >= u64::BITS {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value, at + 1));
        }
    }
    None
}

/// Reads up to `buf.len()` bytes at `offset`, fewer at the end of a file of `len` bytes; how
/// many, or `None` if nothing could be read.
fn read_at(file: &File, buf: &mut [u8], offset: u64, len: u64) -> Option<usize> {
    let want = buf
        .len()
        .min(usize::try_from(len.checked_sub(offset)?).unwrap_or(usize::MAX));
    if want == 0 {
        return None;
    }
    read_exact_at(file, &mut buf[..want], offset)?;
    Some(want)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> Option<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset).ok()
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> Option<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset).ok()? {
            0 => return None,
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Some(())
}

#[cfg(not(any(unix, windows)))]
fn read_exact_at(_: &File, _: &mut [u8], _: u64) -> Option<()> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use spiro_tests::git::Fixture;

    #[test]
    fn varints_as_git_writes_them() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x80 | 0x10, 0x01]), Some((0x90, 2)));
        assert_eq!(varint(&[0x80]), None);
        assert_eq!(varint(&[0xff; 11]), None);
        assert_eq!(delta_result_size(&[0x05, 0x80 | 0x10, 0x01]), Some(0x90));
        assert_eq!(delta_result_size(&[0x05, 0x80]), None);
    }

    /// A pack of one blob whose entry claims `claimed` bytes but holds `data`, with its index,
    /// written by hand into `dir` (nothing writes such a pack but an attacker).
    fn lying_pack(dir: &Path, id: &ObjectId, claimed: u64, data: &[u8]) -> Packs {
        let mut pack = b"PACK\0\0\0\x02\0\0\0\x01".to_vec();
        // Type 3 (blob) and the low 4 bits of the size, then 7 bits a byte.
        let mut size = claimed >> 4;
        let mut byte = 0x30 | (claimed & 0x0f) as u8;
        while size > 0 {
            pack.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        pack.push(byte);
        let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut deflate, data).unwrap();
        pack.extend(deflate.finish().unwrap());
        let checksum = [0x5a; 20];
        pack.extend(checksum);
        let mut idx = vec![0xff, b't', b'O', b'c', 0, 0, 0, 2];
        for first in 0..=255u8 {
            let count = u32::from(first >= id.as_slice()[0]);
            idx.extend(count.to_be_bytes());
        }
        idx.extend(id.as_slice());
        idx.extend([0; 4]); // CRC, unchecked
        idx.extend(12u32.to_be_bytes()); // the entry follows the pack's header
        idx.extend(checksum);
        idx.extend([0; 20]); // the index's own checksum, unchecked
        std::fs::write(dir.join("pack-lie.pack"), pack).unwrap();
        std::fs::write(dir.join("pack-lie.idx"), idx).unwrap();
        let pack = Pack::open(&dir.join("pack-lie.idx"), gix::hash::Kind::Sha1).unwrap();
        Packs {
            packs: vec![Arc::new(pack)],
        }
    }

    #[test]
    fn a_size_no_memory_could_hold_is_a_short_stream_not_an_abort() {
        let dir = tempfile::tempdir().unwrap();
        let id = ObjectId::from_hex(b"8badf00d8badf00d8badf00d8badf00d8badf00d").unwrap();
        let claimed = 1 << 50;
        let packs = lying_pack(dir.path(), &id, claimed, b"tiny\n");
        assert_eq!(packs.size(&id), Some(claimed));
        // Reserving the claimed petabyte would abort the process here.
        assert_eq!(packs.read(&id, gix::object::Kind::Blob), None);
        let mut object = packs.open(&id, gix::object::Kind::Blob).unwrap();
        let err = std::io::copy(&mut object, &mut std::io::sink()).unwrap_err();
        assert!(
            err.to_string().contains("shorter than its header says"),
            "{err}"
        );
        // The same pack telling the truth reads.
        let truthful = tempfile::tempdir().unwrap();
        let packs = lying_pack(truthful.path(), &id, 5, b"tiny\n");
        assert_eq!(packs.read(&id, gix::object::Kind::Blob).unwrap(), b"tiny\n");
    }

    /// A repository packed with deltas: versions of a text file, and many small files so that
    /// fan-out buckets hold several ids.
    fn packed() -> Fixture {
        let fx = Fixture::init();
        let text: String = (0..3000)
            .map(|i| format!("line {i} of the text\n"))
            .collect();
        for version in 0..4 {
            fx.write("big.txt", format!("{text}version {version}\n"));
            for i in 0..150 {
                fx.write(&format!("d/f{i}.txt"), format!("file {i} in {version}\n"));
            }
            fx.commit(&format!("version {version}"));
        }
        fx.git(&["repack", "-adq", "--depth=10"]);
        fx
    }

    /// Every object id in `fx`'s packs, with whether the pack stores it as a delta.
    fn objects(fx: &Fixture) -> Vec<(ObjectId, bool)> {
        let listing = fx.git(&[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname) %(deltabase)",
        ]);
        listing
            .lines()
            .map(|line| {
                let (id, base) = line.split_once(' ').unwrap();
                let id = ObjectId::from_hex(id.as_bytes()).unwrap();
                (id, base.bytes().any(|b| b != b'0'))
            })
            .collect()
    }

    #[test]
    fn sizes_and_whole_objects_are_what_gix_reads() {
        let fx = packed();
        let repo = gix::open(&fx.root).unwrap();
        let packs = Packs::of(&repo);
        assert_eq!(packs.packs.len(), 1);
        let objects = objects(&fx);
        let deltas = objects.iter().filter(|(_, delta)| *delta).count();
        assert!(deltas > 0 && deltas < objects.len(), "{deltas} deltas");
        for (id, delta) in objects {
            let object = repo.find_object(id).unwrap();
            assert_eq!(packs.size(&id), Some(object.data.len() as u64), "{id}");
            let wrong_kind = match object.kind {
                gix::object::Kind::Blob => gix::object::Kind::Tree,
                _ => gix::object::Kind::Blob,
            };
            assert!(packs.open(&id, wrong_kind).is_none());
            match packs.read(&id, object.kind) {
                Some(data) => {
                    assert!(!delta, "{id} is a delta");
                    assert_eq!(data, object.data, "{id}");
                }
                None => assert!(delta, "{id} is stored whole"),
            }
        }
        let absent = ObjectId::from_hex(b"0123456789012345678901234567890123456789").unwrap();
        assert_eq!(packs.size(&absent), None);
    }

    #[test]
    fn the_index_finds_every_id_whatever_the_window() {
        let fx = packed();
        let repo = gix::open(&fx.root).unwrap();
        let packs = Packs::of(&repo);
        let index = &packs.packs[0].index;
        let theirs = pack::index::File::at(fx.pack_index(), gix::hash::Kind::Sha1).unwrap();
        for (id, _) in objects(&fx) {
            let expected = theirs.lookup(id).unwrap();
            for window in [1, 2, 3, 7, INDEX_WINDOW] {
                assert_eq!(
                    index.position_reading(id.as_slice(), window),
                    Some(expected)
                );
            }
            assert_eq!(
                index.offset(&id),
                Some(theirs.pack_offset_at_index(expected))
            );
            // Ids next to a listed one are not listed.
            let mut near = id.as_slice().to_vec();
            near[19] ^= 1;
            for window in [1, 2, INDEX_WINDOW] {
                assert_eq!(index.position_reading(&near, window), None);
            }
        }
    }

    #[test]
    fn a_corrupt_object_is_an_error_naming_the_pack_and_a_mismatched_pack_is_left_to_gix() {
        let fx = packed();
        let repo = gix::open(&fx.root).unwrap();
        let packs = Packs::of(&repo);
        let (id, _) = objects(&fx)
            .into_iter()
            .find(|(id, delta)| !delta && packs.size(id).is_some_and(|size| size > 10_000))
            .expect("the big text stored whole");
        let pack = Arc::clone(&packs.packs[0]);
        let offset = pack.index.offset(&id).unwrap();
        let mut bytes = std::fs::read(&pack.path).unwrap();
        bytes[offset as usize + 200] ^= 0x55;
        let corrupt = fx.root.join("corrupt.pack");
        std::fs::write(&corrupt, &bytes).unwrap();
        let reader = Pack {
            index: Index::open(&pack.path.with_extension("idx"), gix::hash::Kind::Sha1)
                .unwrap()
                .0,
            path: corrupt.clone(),
            data: File::open(&corrupt).unwrap(),
            len: bytes.len() as u64,
        };
        let mut object = Pack::open_object(&Arc::new(reader), &id, gix::object::Kind::Blob)
            .expect("the header is intact");
        let err = std::io::copy(&mut object, &mut std::io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let message = err.to_string();
        assert!(
            message.contains("corrupt.pack") && message.contains("corrupt"),
            "{message}"
        );

        // A pack that does not end with the checksum its index records is not read at all.
        let idx = pack.path.with_extension("idx");
        drop(packs);
        std::fs::remove_file(&pack.path).unwrap();
        std::fs::write(&pack.path, &bytes).unwrap();
        assert!(
            Pack::open(&idx, gix::hash::Kind::Sha1).is_some(),
            "same trailer"
        );
        let truncated = &bytes[..bytes.len() - 1];
        std::fs::write(&pack.path, truncated).unwrap();
        assert!(Pack::open(&idx, gix::hash::Kind::Sha1).is_none());
    }
}

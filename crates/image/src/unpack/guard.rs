//! A bound on the tar records that the `tar` crate reads whole into memory.
//!
//! GNU long names (`L`), long link names (`K`) and PAX headers (`x`, `g`) are read into a
//! `Vec` by the `tar` crate whatever size their header claims, so a hostile layer of a few
//! bytes compressed could make us allocate gigabytes. [`TarGuard`] sits under the tar
//! reader, follows the archive's block structure from the headers it sees pass, and fails
//! the read as soon as such a record claims more than [`RECORD_LIMIT`] bytes.
//!
//! To stay in step with the tar reader it applies the same rules: a PAX `size` record sets
//! the size of the next real entry, and GNU sparse headers may be followed by extension
//! blocks. If a header has a size it cannot read, it stops looking and lets the tar reader
//! report the broken header.

use std::io::{self, Read};

/// The most bytes a long-name or PAX record may hold (real ones are a few hundred bytes).
pub(crate) const RECORD_LIMIT: u64 = 1 << 20;

const BLOCK: usize = 512;

/// What the guard expects at the next block boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// An entry header.
    Header,
    /// A GNU sparse extension block; the entry's data (this many bytes) follows the last.
    SparseExt(u64),
    /// Gave up following the structure (an unreadable header): pass bytes through.
    Nothing,
}

/// A reader that passes the tar stream through unchanged and refuses oversized records.
pub(crate) struct TarGuard<R> {
    inner: R,
    /// Absolute offset of the next bytes `read` returns.
    pos: u64,
    /// Absolute offset where the next header (or extension) block starts.
    next: u64,
    expect: Expect,
    block: [u8; BLOCK],
    filled: usize,
    /// The body of the PAX header being read, and how many bytes it has.
    pax: Option<(Vec<u8>, u64)>,
    /// The size a PAX record set for the next real entry.
    pax_size: Option<u64>,
}

impl<R: Read> TarGuard<R> {
    pub(crate) fn new(inner: R) -> Self {
        TarGuard {
            inner,
            pos: 0,
            next: 0,
            expect: Expect::Header,
            block: [0; BLOCK],
            filled: 0,
            pax: None,
            pax_size: None,
        }
    }

    fn scan(&mut self, data: &[u8]) -> io::Result<()> {
        let mut i = 0;
        while i < data.len() && self.expect != Expect::Nothing {
            let at = self.pos + i as u64;
            if at < self.next {
                let n = usize::try_from(self.next - at)
                    .unwrap_or(usize::MAX)
                    .min(data.len() - i);
                self.collect_pax(&data[i..i + n]);
                i += n;
                continue;
            }
            let n = (BLOCK - self.filled).min(data.len() - i);
            self.block[self.filled..self.filled + n].copy_from_slice(&data[i..i + n]);
            self.filled += n;
            i += n;
            if self.filled == BLOCK {
                self.filled = 0;
                let end = self.pos + i as u64;
                self.on_block(end)?;
            }
        }
        self.pos += data.len() as u64;
        Ok(())
    }

    /// Keeps the bytes of a PAX body (bounded by [`RECORD_LIMIT`]); parses it when whole.
    fn collect_pax(&mut self, bytes: &[u8]) {
        let Some((body, want)) = &mut self.pax else {
            return;
        };
        let room = usize::try_from(*want)
            .unwrap_or(0)
            .saturating_sub(body.len());
        body.extend_from_slice(&bytes[..room.min(bytes.len())]);
        if body.len() as u64 == *want {
            self.pax_size = pax_size(body);
            self.pax = None;
        }
    }

    /// A whole block arrived; `end` is the offset just past it.
    fn on_block(&mut self, end: u64) -> io::Result<()> {
        match self.expect {
            Expect::Header => self.on_header(end),
            Expect::SparseExt(size) => {
                // The GNU sparse extension block's own "more follow" flag.
                if self.block[504] == 0 {
                    self.expect = Expect::Header;
                    self.next = end + padded(size);
                } else {
                    self.next = end;
                }
                Ok(())
            }
            Expect::Nothing => Ok(()),
        }
    }

    fn on_header(&mut self, end: u64) -> io::Result<()> {
        self.next = end;
        if self.block.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let kind = self.block[156];
        let Some(size) = header_size(&self.block[124..136]) else {
            self.expect = Expect::Nothing;
            return Ok(());
        };
        if let Some(what) = record_name(kind) {
            if size > RECORD_LIMIT {
                let name = &self.block[..100];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(100)];
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{what} {:?} of {size} bytes (the limit is {RECORD_LIMIT} bytes): refused",
                        String::from_utf8_lossy(name)
                    ),
                ));
            }
            if kind == b'x' {
                self.pax = Some((Vec::new(), size));
                if size == 0 {
                    self.pax = None;
                    self.pax_size = None;
                }
            }
            self.next = end + padded(size);
            return Ok(());
        }
        let size = self.pax_size.take().unwrap_or(size);
        // GNU sparse: byte 482 of an old GNU header says extension blocks follow.
        if kind == b'S' && self.block[482] != 0 {
            self.expect = Expect::SparseExt(size);
        } else {
            self.next = end + padded(size);
        }
        Ok(())
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.scan(&buf[..n])?;
        Ok(n)
    }
}

/// The records the tar crate reads whole, by type flag.
fn record_name(kind: u8) -> Option<&'static str> {
    match kind {
        b'L' => Some("GNU long name record"),
        b'K' => Some("GNU long link name record"),
        b'x' => Some("PAX header"),
        b'g' => Some("PAX global header"),
        _ => None,
    }
}

/// `n` rounded up to whole blocks.
fn padded(n: u64) -> u64 {
    n.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64)
}

/// The size field: octal digits (space or NUL padded), or GNU base-256 when the high bit of
/// the first byte is set.
fn header_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        if field[0] != 0x80 || field[1..4].iter().any(|&b| b != 0) {
            return None;
        }
        return Some(
            field[4..]
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        );
    }
    let digits = field
        .iter()
        .skip_while(|&&b| b == b' ')
        .take_while(|&&b| (b'0'..=b'7').contains(&b));
    let mut value = 0u64;
    for &d in digits {
        value = value.checked_mul(8)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(value)
}

/// The `size` record of a PAX body (`<len> key=value\n` records), as the tar crate reads it:
/// the first one wins.
fn pax_size(body: &[u8]) -> Option<u64> {
    let mut rest = body;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        if len <= space || len > rest.len() {
            return None;
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(value) = record.strip_prefix(b"size=") {
            return std::str::from_utf8(value).ok()?.parse().ok();
        }
        rest = &rest[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8, size: u64) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..4].copy_from_slice(b"name");
        let field = format!("{size:011o}\0");
        h[124..136].copy_from_slice(field.as_bytes());
        h[156] = kind;
        h
    }

    fn read_all_through_guard(data: &[u8], chunk: usize) -> io::Result<()> {
        let mut guard = TarGuard::new(data);
        let mut buf = vec![0u8; chunk];
        while guard.read(&mut buf)? > 0 {}
        Ok(())
    }

    #[test]
    fn sizes_octal_and_base256() {
        assert_eq!(header_size(b"00000001000\0"), Some(512));
        assert_eq!(header_size(b"   777 \0\0\0\0\0"), Some(0o777));
        let mut b256 = [0u8; 12];
        b256[0] = 0x80;
        b256[11] = 2;
        b256[10] = 1;
        assert_eq!(header_size(&b256), Some(258));
        b256[1] = 1;
        assert_eq!(header_size(&b256), None);
    }

    #[test]
    fn pax_size_record_found() {
        assert_eq!(pax_size(b"18 path=some/file\n11 size=42\n"), Some(42));
        assert_eq!(pax_size(b"11 size=42\n11 size=99\n"), Some(42));
        assert_eq!(pax_size(b"13 path=x/yz\n"), None);
        assert_eq!(pax_size(b"99 size=1\n"), None);
    }

    #[test]
    fn oversized_records_are_refused_at_their_header() {
        for kind in [b'L', b'K', b'x', b'g'] {
            let mut tar = header(kind, RECORD_LIMIT + 1).to_vec();
            tar.extend_from_slice(&[b'a'; 4096]);
            let err = read_all_through_guard(&tar, 700).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains("limit"), "{err}");
        }
    }

    #[test]
    fn big_regular_files_pass_and_later_headers_are_seen() {
        // A 3 MiB file, then an oversized long-name record: only found by following sizes.
        let mut tar = header(b'0', 3 << 20).to_vec();
        tar.resize(tar.len() + (3 << 20), b'L');
        tar.extend_from_slice(&header(b'L', 5 << 20));
        for chunk in [1, 511, 512, 4096, 1 << 16] {
            let err = read_all_through_guard(&tar, chunk).unwrap_err();
            assert!(
                err.to_string().contains("long name"),
                "chunk {chunk}: {err}"
            );
        }
        // The same without the bad record passes.
        tar.truncate(BLOCK + (3 << 20));
        read_all_through_guard(&tar, 4096).unwrap();
    }

    #[test]
    fn pax_size_moves_the_next_header() {
        // A PAX header says the next file holds 1024 bytes while its header says 0; the
        // oversized record right after those 1024 bytes must still be seen.
        let body = b"13 size=1024\n";
        let mut tar = header(b'x', body.len() as u64).to_vec();
        let mut block = [0u8; BLOCK];
        block[..body.len()].copy_from_slice(body);
        tar.extend_from_slice(&block);
        tar.extend_from_slice(&header(b'0', 0));
        tar.extend_from_slice(&[0u8; 1024]);
        tar.extend_from_slice(&header(b'x', 1 << 30));
        let err = read_all_through_guard(&tar, 100).unwrap_err();
        assert!(err.to_string().contains("PAX header"), "{err}");
    }
}

//! Unpacking a layer while it downloads: the body read into the blob store is copied, chunk
//! by chunk, to an unpacker on another thread, so the layer's inflate and file creation run
//! alongside its download instead of after it.
//!
//! The unpacker never sees the end of the stream before the blob's digest is verified:
//! [`Tee::finish`] (called once the store has checked the digest and named the blob) is
//! what ends it, and [`Tee::abort`] makes it fail instead. Its snapshot is only named after
//! that end (and its own DiffID check), so nothing unverified ever looks complete.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

/// Chunks in flight between the download and the unpacker (each one read's worth from the
/// store's copy loop): a few MiB at most, and a slow disk holds the download back.
const DEPTH: usize = 32;

type Chunk = io::Result<Vec<u8>>;

/// A reader whose bytes are also sent to a [`ChannelReader`].
pub(crate) struct Tee<R> {
    inner: R,
    tx: Option<SyncSender<Chunk>>,
    /// Buffers the other side is done with, to copy the next chunks into: no allocation
    /// per chunk once the pipe is primed.
    spare: Receiver<Vec<u8>>,
}

/// A tee of `inner` and the reader at its other end.
pub(crate) fn tee<R: Read>(inner: R) -> (Tee<R>, ChannelReader) {
    let (tx, rx) = sync_channel(DEPTH);
    let (spare_tx, spare_rx) = channel();
    (
        Tee {
            inner,
            tx: Some(tx),
            spare: spare_rx,
        },
        ChannelReader {
            rx,
            spare: spare_tx,
            cur: Vec::new(),
            pos: 0,
        },
    )
}

impl<R> Tee<R> {
    /// Ends the other side's stream: everything it got is the verified content.
    pub(crate) fn finish(&mut self) {
        self.tx = None;
    }

    /// Makes the other side's stream fail: what it got must not be used.
    pub(crate) fn abort(&mut self, why: &str) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Err(io::Error::other(why.to_owned())));
        }
    }
}

impl<R> Drop for Tee<R> {
    /// A tee dropped without [`Tee::finish`] (an early return, a panic) never ends the
    /// other side's stream cleanly.
    fn drop(&mut self) {
        self.abort("the download stopped");
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        // A reader gone (the unpacker failed) stops the copies, not the download: the
        // blob is still stored, and the layer unpacked from it as before.
        if n > 0
            && let Some(tx) = &self.tx
        {
            let mut chunk = self.spare.try_recv().unwrap_or_default();
            chunk.clear();
            chunk.extend_from_slice(&buf[..n]);
            if tx.send(Ok(chunk)).is_err() {
                self.tx = None;
            }
        }
        Ok(n)
    }
}

/// The unpacker's end of a [`Tee`].
pub(crate) struct ChannelReader {
    rx: Receiver<Chunk>,
    spare: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.cur, chunk);
                    self.pos = 0;
                    // The tee gone: the buffer is simply dropped.
                    let _ = self.spare.send(used);
                }
                Ok(Err(e)) => return Err(e),
                // The tee finished: the end of the verified stream.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_side_gets_every_byte_then_the_end() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let (mut t, mut r) = tee(&data[..]);
        let got = std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let mut v = Vec::new();
                r.read_to_end(&mut v).map(|_| v)
            });
            let mut copy = Vec::new();
            t.read_to_end(&mut copy).expect("read");
            assert_eq!(copy, data);
            t.finish();
            reader.join().expect("join")
        });
        assert_eq!(got.expect("clean end"), data);
    }

    #[test]
    fn an_aborted_tee_fails_the_other_side() {
        let data = vec![7u8; 1000];
        let (mut t, mut r) = tee(&data[..]);
        let mut copy = Vec::new();
        t.read_to_end(&mut copy).expect("read");
        t.abort("digest mismatch");
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "digest mismatch");
    }

    #[test]
    fn a_dropped_tee_fails_the_other_side() {
        let (t, mut r) = tee(&b"abc"[..]);
        drop(t);
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn a_gone_reader_does_not_stop_the_download() {
        let data = vec![1u8; 10 * 65536];
        let (mut t, r) = tee(&data[..]);
        drop(r);
        let mut copy = Vec::new();
        t.read_to_end(&mut copy).expect("read");
        assert_eq!(copy.len(), data.len());
    }
}

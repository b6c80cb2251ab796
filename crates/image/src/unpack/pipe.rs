//! Decompression and hashing on their own thread, the filesystem work on the caller's: with
//! gzip, inflating is about as costly as writing the files, so overlapping them is most of
//! the speed (as `tar -xzf` gets from its `gzip` child).

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use super::Compression;
use super::stream::{DigestReader, decompress};

/// Size of one chunk handed over.
const CHUNK: usize = 1 << 20;
/// Chunks in flight: enough to ride out a slow file, little memory.
const DEPTH: usize = 4;

type Chunk = io::Result<(Vec<u8>, usize)>;

/// Runs `consume` on the uncompressed tar stream while another thread decompresses `reader`
/// and computes the DiffID. When `consume` succeeds the rest of the stream is read too (the
/// tar's trailing blocks count in the DiffID); when it fails the producer is stopped.
/// Returns what `consume` returned and the DiffID with the stream's length.
pub(crate) fn pipelined<T, E>(
    reader: impl Read + Send,
    compression: Compression,
    consume: impl FnOnce(&mut dyn Read) -> Result<T, E>,
) -> (Result<T, E>, io::Result<(String, u64)>) {
    let (tx, rx) = sync_channel::<Chunk>(DEPTH);
    let (spare_tx, spare_rx) = channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let producer = s.spawn(move || produce(reader, compression, tx, spare_rx));
        let mut stream = ChunkReader {
            rx,
            spare: spare_tx,
            cur: Vec::new(),
            pos: 0,
            len: 0,
        };
        let consumed = consume(&mut stream);
        let drained = match &consumed {
            Ok(_) => io::copy(&mut stream, &mut io::sink()).map(drop),
            Err(_) => Ok(()),
        };
        // Dropping the receiver stops a producer still sending.
        drop(stream);
        let digest = match producer.join() {
            Ok(d) => drained.and(d),
            Err(_) => Err(io::Error::other("the decompression thread panicked")),
        };
        (consumed, digest)
    })
}

fn produce(
    reader: impl Read,
    compression: Compression,
    tx: SyncSender<Chunk>,
    spare: Receiver<Vec<u8>>,
) -> io::Result<(String, u64)> {
    // Errors go down the channel too, so the consumer reports them in place (after which
    // entry); the copy keeps the kind and message.
    let fail = |tx: &SyncSender<Chunk>, e: io::Error| {
        let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
        e
    };
    let stream = decompress(reader, compression).map_err(|e| fail(&tx, e))?;
    let mut digest = DigestReader::new(stream);
    loop {
        let mut buf = spare.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
        let n = fill(&mut digest, &mut buf).map_err(|e| fail(&tx, e))?;
        if n == 0 {
            return digest.finish();
        }
        if tx.send(Ok((buf, n))).is_err() {
            return Err(io::Error::other("the unpacker stopped reading"));
        }
    }
}

/// Reads until `buf` is full or the stream ends.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The consumer's end: chunks as one stream; used buffers go back to the producer.
struct ChunkReader {
    rx: Receiver<Chunk>,
    spare: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    len: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            match self.rx.recv() {
                Ok(Ok((buf, len))) => {
                    let old = std::mem::replace(&mut self.cur, buf);
                    if !old.is_empty() {
                        let _ = self.spare.send(old);
                    }
                    (self.pos, self.len) = (0, len);
                }
                Ok(Err(e)) => return Err(e),
                // The producer is done: end of stream (its errors came as chunks).
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_and_digest_survive_the_handover() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        let (got, digest) = pipelined(&data[..], Compression::None, |r| {
            let mut head = vec![0; 1000];
            r.read_exact(&mut head)?;
            Ok::<_, io::Error>(head)
        });
        assert_eq!(got.unwrap(), data[..1000]);
        let (_, len) = digest.unwrap();
        assert_eq!(len, data.len() as u64);
    }

    #[test]
    fn a_failing_consumer_stops_the_producer() {
        let data = vec![0u8; 10 * CHUNK];
        let (got, digest) = pipelined(&data[..], Compression::None, |_| Err::<(), _>("stop"));
        assert_eq!(got, Err("stop"));
        assert!(digest.is_err());
    }

    #[test]
    fn producer_errors_reach_the_consumer() {
        let gz = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff];
        let (got, digest) = pipelined(&gz[..], Compression::Detect, |r| {
            io::copy(r, &mut io::sink())
        });
        assert!(got.is_err());
        assert!(digest.is_err());
    }
}

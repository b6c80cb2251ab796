//! The layer byte stream: decompression chosen by media type and magic bytes, and the DiffID
//! (sha256 of the uncompressed tar) computed while the tar is read.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use super::error::{Result, UnpackError};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (one or more members).
    Gzip,
    /// zstd (one or more frames).
    Zstd,
    /// Decide from the first bytes of the blob.
    Detect,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// The compression of an OCI or Docker layer media type; an error for types that are not
    /// layers (configs, manifests) or use a compression not supported.
    pub fn from_media_type(media_type: &str) -> Result<Compression> {
        let base = media_type.split(';').next().unwrap_or_default().trim();
        let c = match base {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/x-tar" => Compression::None,
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Compression::Zstd,
            _ => return Err(UnpackError::UnsupportedMediaType(media_type.to_owned())),
        };
        Ok(c)
    }

    /// The compression announced by the first bytes of a blob.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wraps `reader` in the decompressor its magic bytes call for. The magic bytes win over the
/// declared compression: `docker save` and some registries label layers loosely, and the
/// DiffID check catches any stream that is not the layer. A declared compression whose magic
/// is absent is read as a plain tar for the same reason.
pub(crate) fn decompress<'a>(
    mut reader: impl Read + 'a,
    _declared: Compression,
) -> io::Result<Box<dyn Read + 'a>> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = &head[..got];
    let whole = io::Cursor::new(head.to_vec()).chain(reader);
    Ok(match Compression::sniff(head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
        Compression::None | Compression::Detect => Box::new(whole),
    })
}

/// The DiffID of a layer blob (sha256 of its uncompressed tar, `sha256:<hex>`) and the
/// tar's length, without unpacking it: for a blob whose snapshot exists already.
pub fn diff_id_of(reader: impl Read) -> io::Result<(String, u64)> {
    DigestReader::new(decompress(reader, Compression::Detect)?).finish()
}

/// Hashes every byte read through it: the DiffID of the tar stream.
pub(crate) struct DigestReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> DigestReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        DigestReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Reads what is left to the end (the tar's trailing blocks count in the DiffID), then
    /// returns `sha256:<hex>` and the stream's length.
    pub(crate) fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.len,
        ))
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Checks that `digest` is `sha256:` and 64 lowercase hex digits, returning the hex part.
pub fn sha256_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(h)
        }
        _ => Err(UnpackError::InvalidDigest {
            digest: digest.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        use Compression::*;
        let t = |s| Compression::from_media_type(s).unwrap();
        assert_eq!(t("application/vnd.oci.image.layer.v1.tar"), None);
        assert_eq!(t("application/vnd.oci.image.layer.v1.tar+gzip"), Gzip);
        assert_eq!(t("application/vnd.oci.image.layer.v1.tar+zstd"), Zstd);
        assert_eq!(t("application/vnd.docker.image.rootfs.diff.tar.gzip"), Gzip);
        assert!(Compression::from_media_type("application/vnd.oci.image.config.v1+json").is_err());
    }

    #[test]
    fn magic_bytes() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(Compression::sniff(&ZSTD_MAGIC), Compression::Zstd);
        assert_eq!(Compression::sniff(b"etc/"), Compression::None);
        assert_eq!(Compression::sniff(b""), Compression::None);
    }

    #[test]
    fn digest_reader_hashes_everything() {
        let mut r = DigestReader::new(&b"abc"[..]);
        let mut one = [0u8; 1];
        r.read_exact(&mut one).unwrap();
        let (d, n) = r.finish().unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            d,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha256_digests() {
        assert!(sha256_hex(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(sha256_hex(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(sha256_hex("sha512:abc").is_err());
    }
}

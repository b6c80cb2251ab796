//! COPY and ADD into a stage's rootfs, with Docker's rules: a directory source copies its
//! content; several sources need a directory destination ending in `/`; a file goes to
//! `dest/<name>` when the destination is a directory (ends with `/` or is one in the
//! image), else it becomes `dest`; entries are owned by root (or `--chown`), keep their
//! modes (or take `--chmod`) and mtimes. ADD extracts local tar archives (plain, gzip,
//! bzip2-less: gzip, zstd and xz are not all read here; see [`archive_kind`]).
//!
//! The copy is written as a tar stream and laid into the rootfs by the image store's
//! unpacker, so every destination path is resolved inside the rootfs (openat2
//! `RESOLVE_IN_ROOT`): a symlink in the image cannot send a file outside it.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use compose_image::unpack::{Compression, UnpackError, UnpackOptions, unpack_layer};
use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};

use crate::context::{Context, ContextError, Source};
use crate::diff::{DiffError, TreeOptions, Writer};
use crate::dockerfile::Heredoc;

/// Why a COPY or ADD failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(
        "when copying several sources, the destination must be a directory and end with a /: {0:?}"
    )]
    DestNotDir(String),
    #[error("{0}")]
    Tree(#[from] DiffError),
    #[error("laying the files into the image: {0}")]
    Unpack(#[from] UnpackError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "ADD {0}: remote sources (URLs, git) are not fetched on this machine; put the file in the build context and COPY it"
    )]
    Remote(String),
    #[error("{0:?}: a name starting with .wh. cannot go into an image layer")]
    WhiteoutName(String),
}

type Result<T> = std::result::Result<T, CopyError>;

/// What to copy where.
pub struct CopySpec<'a> {
    /// Sources as written after expansion (context paths, wildcards, `<<NAME` heredocs).
    pub sources: &'a [String],
    /// Absolute destination in the image (already joined with WORKDIR).
    pub dest: &'a str,
    pub owner: (u32, u32),
    pub chmod: Option<u32>,
    /// ADD: local archives are extracted.
    pub add: bool,
    /// Here-documents of the instruction, their bodies already expanded where they should.
    pub heredocs: &'a [Heredoc],
}

/// What was copied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyStats {
    pub entries: u64,
}

/// Copies into the rootfs at `root` (the stage's merged overlay).
pub fn copy(ctx: &Context, spec: &CopySpec<'_>, root: &Path) -> Result<CopyStats> {
    let mut items = Vec::new();
    for s in spec.sources {
        if let Some(doc) = heredoc_for(s, spec.heredocs) {
            items.push(Item::Heredoc(doc));
        } else if s.contains("://") || s.starts_with("git@") {
            return Err(CopyError::Remote(s.clone()));
        } else {
            items.extend(ctx.resolve(s)?.into_iter().map(Item::Source));
        }
    }
    let dest_exists = is_dir_in(root, spec.dest);
    let dest_is_dir = spec.dest.ends_with('/') || dest_exists;
    if items.len() > 1 && !dest_is_dir {
        return Err(CopyError::DestNotDir(spec.dest.to_string()));
    }
    let dest = spec.dest.trim_start_matches('/').trim_end_matches('/');
    let dest = if dest.is_empty() { "." } else { dest };
    let (reader, writer) = io::pipe().map_err(|e| io_err("pipe", e))?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            write_items(ctx, spec, &items, (dest, dest_is_dir, dest_exists), writer)
        });
        let opts = UnpackOptions {
            preserve_ownership: true,
            ..UnpackOptions::default()
        };
        let unpacked = unpack_layer(reader, Compression::None, root, &opts);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(io_err("copy", io::Error::other("the copy thread panicked"))));
        // Whichever side failed first explains it: a failed unpack breaks the producer's
        // pipe, a failed producer truncates the unpacker's stream.
        match (produced, unpacked) {
            (Ok(entries), Ok(_)) => Ok(CopyStats { entries }),
            (Err(p), Err(u)) if broken_pipe(&p) => Err(u.into()),
            (Err(p), _) => Err(p),
            (Ok(_), Err(u)) => Err(u.into()),
        }
    })
}

enum Item<'a> {
    Source(Source),
    Heredoc(&'a Heredoc),
}

fn heredoc_for<'a>(source: &str, docs: &'a [Heredoc]) -> Option<&'a Heredoc> {
    let name = source.strip_prefix("<<")?;
    let name = name.strip_prefix('-').unwrap_or(name);
    let name: String = name.chars().filter(|c| *c != '"' && *c != '\'').collect();
    docs.iter().find(|d| d.name == name)
}

fn broken_pipe(e: &CopyError) -> bool {
    let source = match e {
        CopyError::Io { source, .. } => source,
        CopyError::Tree(d) => &d.source,
        _ => return false,
    };
    source.kind() == io::ErrorKind::BrokenPipe
}

fn io_err(what: &str, source: io::Error) -> CopyError {
    CopyError::Io {
        what: what.to_string(),
        source,
    }
}

/// Whether `dest` names a directory in the rootfs (symlinks resolved inside it).
fn is_dir_in(root: &Path, dest: &str) -> bool {
    let dest = dest.trim_start_matches('/');
    if dest.is_empty() {
        return true;
    }
    let Ok(rootfd) = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()) else {
        return false;
    };
    openat2(
        &rootfd,
        dest,
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .is_ok()
}

fn join(dir: &str, name: &str) -> PathBuf {
    if dir == "." {
        PathBuf::from(name)
    } else {
        Path::new(dir).join(name)
    }
}

fn write_items(
    ctx: &Context,
    spec: &CopySpec<'_>,
    items: &[Item<'_>],
    (dest, dest_is_dir, dest_exists): (&str, bool, bool),
    out: impl Write,
) -> Result<u64> {
    let opts = TreeOptions {
        whiteouts: false,
        owner: Some(spec.owner),
        chmod: spec.chmod,
        skip: None,
    };
    let mut w = Writer::new(out, ctx.dir(), opts);
    for item in items {
        match item {
            Item::Heredoc(doc) => {
                let target = if dest_is_dir {
                    join(dest, &doc.name)
                } else {
                    PathBuf::from(dest)
                };
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(doc.content.len() as u64);
                h.set_mode(spec.chmod.unwrap_or(0o644));
                h.set_uid(u64::from(spec.owner.0));
                h.set_gid(u64::from(spec.owner.1));
                h.set_mtime(now());
                w.tar
                    .append_data(&mut h, &target, doc.content.as_bytes())
                    .map_err(|e| io_err("write here-document", e))?;
            }
            Item::Source(src) => {
                let skip = skip_for(ctx, src, dest);
                w.set_skip(Some(Box::new(skip)));
                if src.is_dir {
                    if dest != "." && !dest_exists {
                        // The destination dir is made even when the source is empty.
                        let mut h = tar::Header::new_gnu();
                        h.set_entry_type(tar::EntryType::Directory);
                        h.set_size(0);
                        h.set_mode(spec.chmod.unwrap_or(0o755));
                        h.set_uid(u64::from(spec.owner.0));
                        h.set_gid(u64::from(spec.owner.1));
                        h.set_mtime(now());
                        w.tar
                            .append_data(&mut h, dest, io::empty())
                            .map_err(|e| io_err("write the destination dir", e))?;
                    }
                    w.dir_contents(&src.path(), Path::new(dest))?;
                } else if spec.add && archive_kind(&src.path()).is_some() {
                    extract_archive(&mut w, &src.path(), dest, &src.rel)?;
                } else {
                    let name = src.name().unwrap_or(".");
                    if name.starts_with(".wh.") {
                        return Err(CopyError::WhiteoutName(src.rel.clone()));
                    }
                    let target = if dest_is_dir {
                        join(dest, name)
                    } else {
                        PathBuf::from(dest)
                    };
                    w.entry_followed(&src.path(), &target, std::ffi::OsStr::new(name))?;
                }
            }
        }
    }
    Ok(w.finish()?.entries)
}

/// Entries under a copied directory that `.dockerignore` excludes are left out; names the
/// unpacker would read as whiteouts are refused.
fn skip_for<'a>(ctx: &'a Context, src: &'a Source, dest: &'a str) -> impl Fn(&Path) -> bool + 'a {
    move |tar_path: &Path| {
        let inner = tar_path
            .strip_prefix(if dest == "." { "" } else { dest })
            .unwrap_or(tar_path);
        let ctx_path = if src.rel == "." {
            inner.display().to_string()
        } else {
            format!("{}/{}", src.rel, inner.display())
        };
        src.is_dir && ctx.ignore().is_excluded(&ctx_path)
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The compression of a local archive ADD extracts: a tar, plain or gzip- or
/// zstd-compressed, recognized by its content as Docker does (not by its name).
pub fn archive_kind(path: &Path) -> Option<Compression> {
    let mut head = [0u8; 512];
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let head = &head[..n];
    match Compression::sniff(head) {
        Compression::Gzip => Some(Compression::Gzip),
        Compression::Zstd => Some(Compression::Zstd),
        _ if n >= 262 && &head[257..262] == b"ustar" => Some(Compression::None),
        _ => None,
    }
}

/// Re-writes a local archive's entries under `dest` into the copy stream.
fn extract_archive<W: Write>(
    w: &mut Writer<'_, W>,
    path: &Path,
    dest: &str,
    rel: &str,
) -> Result<()> {
    let what = format!("ADD {rel}: reading the archive");
    let file = std::fs::File::open(path).map_err(|e| io_err(&what, e))?;
    let reader: Box<dyn Read> = match archive_kind(path) {
        Some(Compression::Gzip) => Box::new(flate2::read::GzDecoder::new(file)),
        Some(Compression::Zstd) => {
            Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| io_err(&what, e))?)
        }
        _ => Box::new(file),
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| io_err(&what, e))? {
        let entry = entry.map_err(|e| io_err(&what, e))?;
        let inner = entry.path().map_err(|e| io_err(&what, e))?.into_owned();
        let target = join(dest, &inner.to_string_lossy());
        let mut header = entry.header().clone();
        let kind = header.entry_type();
        let res = if kind == tar::EntryType::Link {
            let link = entry
                .link_name()
                .map_err(|e| io_err(&what, e))?
                .unwrap_or_default()
                .into_owned();
            w.tar
                .append_link(&mut header, &target, join(dest, &link.to_string_lossy()))
        } else if kind == tar::EntryType::Symlink {
            let link = entry
                .link_name()
                .map_err(|e| io_err(&what, e))?
                .unwrap_or_default()
                .into_owned();
            w.tar.append_link(&mut header, &target, link)
        } else {
            w.tar.append_data(&mut header, &target, entry)
        };
        res.map_err(|e| io_err(&what, e))?;
    }
    Ok(())
}

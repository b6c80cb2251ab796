//! Compiled filters kept on disk, so that a profile is compiled once per runtime state root
//! rather than at every container start and `exec`.
//!
//! An entry is named by the SHA-256 of what decides the program (the profile as JSON, the
//! host arch, this crate's version and [`FORMAT`]) and holds a header, the raw
//! `sock_filter` array and a SHA-256 of both. It is written whole under a temp name and
//! renamed. On read, nothing is trusted: the magic, the key, the length, the checksum and
//! the program's structure (known opcodes, jumps inside the program, a `ret` last) are
//! checked, and an entry that fails any check is compiled again and replaced.

use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use super::bpf::{ALU_AND_K, JMP_JA, JMP_JEQ_K, JMP_JGE_K, JMP_JGT_K, LD_W_ABS, RET_K};
use super::{Insn, Program, Result, compile, host_arch};

/// Bumped whenever the compiler's output for a given profile may change.
pub const FORMAT: u32 = 1;
/// The cache's dir under the runtime's state root (not a valid container id).
pub const DIR: &str = ".seccomp";

const MAGIC: &[u8; 8] = b"CSECBPF\0";
/// magic, format, flags, instruction count, key.
const HEADER: usize = 8 + 4 + 4 + 4 + 32;
const SUM: usize = 32;
const MAX_INSNS: usize = 4096;

/// Where a program came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Read from a valid entry.
    Hit,
    /// Compiled; no entry existed.
    Compiled,
    /// Compiled; an entry existed but failed a check, and was replaced.
    Replaced,
}

/// The filter for `profile`, from the cache in `dir` when a valid entry is there, else
/// compiled and stored. A cache that cannot be written only costs the compile next time.
pub fn load_or_compile(dir: &Path, profile: &LinuxSeccomp) -> Result<(Program, Outcome)> {
    let key = key(profile)?;
    let path = entry_path(dir, &key);
    let existed = match std::fs::read(&path) {
        Ok(bytes) => match decode(&bytes, &key) {
            Some(p) => return Ok((p, Outcome::Hit)),
            None => {
                tracing::warn!(?path, "seccomp cache entry failed its checks; recompiling");
                true
            }
        },
        Err(_) => false,
    };
    let prog = compile(profile)?;
    if let Err(err) = store(dir, &path, &encode(&prog, &key)) {
        tracing::warn!(?err, ?path, "could not write the seccomp cache entry");
    }
    let outcome = if existed {
        Outcome::Replaced
    } else {
        Outcome::Compiled
    };
    Ok((prog, outcome))
}

/// The entry's file for `profile` in `dir` (whether or not it exists).
pub fn entry_for(dir: &Path, profile: &LinuxSeccomp) -> Result<PathBuf> {
    Ok(entry_path(dir, &key(profile)?))
}

fn entry_path(dir: &Path, key: &[u8; 32]) -> PathBuf {
    dir.join(format!("{}.bpf", hex::encode(key)))
}

fn key(profile: &LinuxSeccomp) -> Result<[u8; 32]> {
    let arch = host_arch()?;
    // Serializing a struct of vecs and options: the same profile gives the same bytes.
    let json = serde_json::to_vec(profile).map_err(|e| super::Error::Parse {
        path: PathBuf::from("<seccomp profile>"),
        message: e.to_string(),
    })?;
    let mut h = Sha256::new();
    h.update(FORMAT.to_le_bytes());
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update([0]);
    h.update(arch.name.as_bytes());
    h.update([0]);
    h.update(&json);
    Ok(h.finalize().into())
}

fn encode(p: &Program, key: &[u8; 32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER + p.insns.len() * 8 + SUM);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&FORMAT.to_le_bytes());
    b.extend_from_slice(&p.flags.to_le_bytes());
    b.extend_from_slice(&(p.insns.len() as u32).to_le_bytes());
    b.extend_from_slice(key);
    for i in &p.insns {
        b.extend_from_slice(&i.code.to_le_bytes());
        b.push(i.jt);
        b.push(i.jf);
        b.extend_from_slice(&i.k.to_le_bytes());
    }
    let sum: [u8; 32] = Sha256::digest(&b).into();
    b.extend_from_slice(&sum);
    b
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The program in `b` if every check passes.
fn decode(b: &[u8], key: &[u8; 32]) -> Option<Program> {
    if b.get(..8)? != MAGIC || u32_at(b, 8)? != FORMAT {
        return None;
    }
    let flags = u32_at(b, 12)?;
    let n = u32_at(b, 16)? as usize;
    if n == 0 || n > MAX_INSNS || b.len() != HEADER + n * 8 + SUM {
        return None;
    }
    if b.get(20..HEADER)? != key {
        return None;
    }
    let (body, sum) = b.split_at(HEADER + n * 8);
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let insns: Vec<Insn> = body[HEADER..]
        .chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    well_formed(&insns).then_some(Program { insns, flags })
}

/// Only what our compiler emits, every jump landing inside the program, a `ret` last: the
/// kernel checks the same, but a bad entry should be recompiled, not fail the container.
fn well_formed(insns: &[Insn]) -> bool {
    let n = insns.len();
    let last_is_ret = insns.last().is_some_and(|i| i.code == RET_K);
    last_is_ret
        && insns.iter().enumerate().all(|(pc, i)| {
            let lands = |off: usize| pc + 1 + off < n;
            match i.code {
                LD_W_ABS => i.k % 4 == 0 && i.k < 64,
                ALU_AND_K | RET_K => true,
                JMP_JA => lands(i.k as usize),
                JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => lands(i.jt.into()) && lands(i.jf.into()),
                _ => false,
            }
        })
}

/// Written whole under a temp name, synced, then renamed: a reader sees no entry or a whole
/// one (and checks it anyway).
fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_data()
    });
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> LinuxSeccomp {
        super::super::default_profile(&crate::spec::default_capabilities())
    }

    #[test]
    fn an_entry_round_trips_and_checks_its_key() -> Result<()> {
        let p = profile();
        let prog = compile(&p)?;
        let k = key(&p)?;
        let bytes = encode(&prog, &k);
        assert_eq!(decode(&bytes, &k), Some(prog));
        let mut other = k;
        other[0] ^= 1;
        assert_eq!(decode(&bytes, &other), None);
        Ok(())
    }

    #[test]
    fn damaged_entries_are_refused() -> Result<()> {
        let p = profile();
        let k = key(&p)?;
        let bytes = encode(&compile(&p)?, &k);
        assert_eq!(decode(&bytes[..bytes.len() - 1], &k), None, "truncated");
        assert_eq!(decode(&[], &k), None, "empty");
        let mut flipped = bytes.clone();
        flipped[HEADER + 9] ^= 0x40;
        assert_eq!(decode(&flipped, &k), None, "a flipped bit");
        let mut longer = bytes;
        longer.extend_from_slice(&[0; 8]);
        assert_eq!(decode(&longer, &k), None, "trailing bytes");
        Ok(())
    }

    #[test]
    fn structure_is_checked_even_with_a_good_checksum() -> Result<()> {
        let p = profile();
        let k = key(&p)?;
        let mut prog = compile(&p)?;
        // A jump past the end, re-summed as an attacker or a bug would.
        if let Some(i) = prog.insns.iter_mut().find(|i| i.code == JMP_JEQ_K) {
            i.jf = 255;
            i.jt = 255;
        }
        let n = prog.insns.len();
        prog.insns.truncate(n.min(200));
        assert_eq!(decode(&encode(&prog, &k), &k), None);
        let mut unknown = compile(&p)?;
        unknown.insns[1].code = 0x07; // BPF_MISC|BPF_TAX: never ours
        assert_eq!(decode(&encode(&unknown, &k), &k), None);
        Ok(())
    }

    #[test]
    fn the_key_follows_the_profile() -> Result<()> {
        let a = profile();
        let mut b = a.clone();
        b.set_default_errno_ret(Some(38));
        assert_ne!(key(&a)?, key(&b)?);
        assert_eq!(key(&a)?, key(&a.clone())?);
        Ok(())
    }

    #[test]
    fn written_once_then_read_and_a_bad_entry_replaced() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| super::super::Error::Read {
            path: PathBuf::from("tempdir"),
            source: e,
        })?;
        let p = profile();
        let (first, o1) = load_or_compile(dir.path(), &p)?;
        assert_eq!(o1, Outcome::Compiled);
        let (second, o2) = load_or_compile(dir.path(), &p)?;
        assert_eq!(o2, Outcome::Hit);
        assert_eq!(first, second);
        let entry = entry_for(dir.path(), &p)?;
        let mut bytes = std::fs::read(&entry).unwrap_or_default();
        bytes[HEADER] ^= 0xff;
        std::fs::write(&entry, &bytes).map_err(|e| super::super::Error::Read {
            path: entry.clone(),
            source: e,
        })?;
        let (third, o3) = load_or_compile(dir.path(), &p)?;
        assert_eq!(o3, Outcome::Replaced);
        assert_eq!(third, first);
        assert_eq!(load_or_compile(dir.path(), &p)?.1, Outcome::Hit);
        Ok(())
    }
}

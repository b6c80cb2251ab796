//! An OCI seccomp profile compiled into classic BPF.
//!
//! Layout: check the arch (another ABI kills the process), load the syscall number, then one
//! block per syscall the profile names: `jeq nr` skips the block when it is another call;
//! inside, each rule's argument checks jump past the rule's `ret` when they fail, so the
//! first rule whose checks all pass decides. Rules with conditions come before the call's
//! unconditional rule, and a call none of whose rules match gets the default action.

use std::collections::BTreeMap;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::{Error, HostArch, Result, host_arch, is_known_anywhere};

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// A compiled filter and the `seccomp(2)` flags to install it with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub insns: Vec<Insn>,
    pub flags: u32,
}

// Opcodes (linux/filter.h, linux/bpf_common.h).
/// BPF_LD | BPF_W | BPF_ABS (0x00 | 0x00 | 0x20).
pub(crate) const LD_W_ABS: u16 = 0x20;
pub(crate) const ALU_AND_K: u16 = 0x04 | 0x50;
pub(crate) const JMP_JA: u16 = 0x05;
pub(crate) const JMP_JEQ_K: u16 = 0x05 | 0x10;
pub(crate) const JMP_JGT_K: u16 = 0x05 | 0x20;
pub(crate) const JMP_JGE_K: u16 = 0x05 | 0x30;
pub(crate) const RET_K: u16 = 0x06;

// Return values (linux/seccomp.h).
pub(crate) const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub(crate) const RET_KILL_THREAD: u32 = 0;
pub(crate) const RET_TRAP: u32 = 0x0003_0000;
pub(crate) const RET_ERRNO: u32 = 0x0005_0000;
pub(crate) const RET_TRACE: u32 = 0x7ff0_0000;
pub(crate) const RET_LOG: u32 = 0x7ffc_0000;
pub(crate) const RET_ALLOW: u32 = 0x7fff_0000;

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

const EPERM: u32 = 1;
/// BPF_MAXINSNS: the most instructions the kernel takes in one classic filter.
const MAX_INSNS: usize = 4096;

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// The `ret` value of an action.
fn ret_value(action: LinuxSeccompAction, errno: Option<u32>) -> Result<u32> {
    use LinuxSeccompAction as A;
    Ok(match action {
        A::ScmpActAllow => RET_ALLOW,
        A::ScmpActErrno => RET_ERRNO | (errno.unwrap_or(EPERM) & 0xffff),
        A::ScmpActKill | A::ScmpActKillThread => RET_KILL_THREAD,
        A::ScmpActKillProcess => RET_KILL_PROCESS,
        A::ScmpActTrap => RET_TRAP,
        A::ScmpActTrace => RET_TRACE | (errno.unwrap_or(0) & 0xffff),
        A::ScmpActLog => RET_LOG,
        A::ScmpActNotify => return Err(Error::Unsupported("SCMP_ACT_NOTIFY".into())),
    })
}

/// One rule of one syscall: its argument checks (all must hold) and what it returns.
struct Rule<'a> {
    args: &'a [LinuxSeccompArg],
    ret: u32,
}

/// Compiles `profile` for the host's arch.
pub fn compile(profile: &LinuxSeccomp) -> Result<Program> {
    compile_for(profile, &host_arch()?)
}

pub(crate) fn compile_for(profile: &LinuxSeccomp, arch: &HostArch) -> Result<Program> {
    if profile.listener_path().is_some() {
        return Err(Error::Unsupported("listenerPath".into()));
    }
    let default = ret_value(profile.default_action(), profile.default_errno_ret())?;
    let calls = group_rules(profile.syscalls().as_deref().unwrap_or_default(), arch)?;
    let mut out = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JMP_JEQ_K, arch.audit, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, OFF_NR),
    ];
    if let Some(bit) = arch.foreign_nr_bit {
        out.push(jump(JMP_JGE_K, bit, 0, 1));
        out.push(stmt(RET_K, RET_KILL_PROCESS));
    }
    for (nr, (name, mut rules)) in calls {
        // Conditional rules first: the unconditional one is the call's fallback.
        rules.sort_by_key(|r| r.args.is_empty());
        let block = call_block(&name, &rules, default)?;
        match u8::try_from(block.len()) {
            Ok(skip) => out.push(jump(JMP_JEQ_K, nr, 0, skip)),
            Err(_) => {
                out.push(jump(JMP_JEQ_K, nr, 1, 0));
                out.push(stmt(JMP_JA, block.len() as u32));
            }
        }
        out.extend(block);
    }
    out.push(stmt(RET_K, default));
    if out.len() > MAX_INSNS {
        return Err(Error::TooBig(out.len()));
    }
    Ok(Program {
        insns: out,
        flags: flags(profile.flags().as_deref().unwrap_or_default()),
    })
}

fn flags(flags: &[LinuxSeccompFilterFlag]) -> u32 {
    flags
        .iter()
        .map(|f| match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
        })
        .fold(0, |a, b| a | b)
}

/// The profile's rules by syscall number (on this arch), in profile order within a call.
/// A name of another arch is skipped; a name of no arch is an error.
fn group_rules<'a>(
    syscalls: &'a [LinuxSyscall],
    arch: &HostArch,
) -> Result<BTreeMap<u32, (String, Vec<Rule<'a>>)>> {
    let mut calls: BTreeMap<u32, (String, Vec<Rule<'a>>)> = BTreeMap::new();
    for s in syscalls {
        let ret = ret_value(s.action(), s.errno_ret())?;
        let args = s.args().as_deref().unwrap_or_default();
        for name in s.names() {
            let Some(nr) = arch.number(name) else {
                if is_known_anywhere(name) {
                    continue;
                }
                return Err(Error::UnknownSyscall(name.clone()));
            };
            check_args(name, args)?;
            calls
                .entry(nr)
                .or_insert_with(|| (name.clone(), Vec::new()))
                .1
                .push(Rule { args, ret });
        }
    }
    Ok(calls)
}

fn check_args(name: &str, args: &[LinuxSeccompArg]) -> Result<()> {
    for a in args {
        if a.index() > 5 {
            return Err(Error::BadArgIndex {
                name: name.to_string(),
                index: a.index(),
            });
        }
        if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq && a.value_two().is_none() {
            return Err(Error::MaskedEqWithoutValueTwo {
                name: name.to_string(),
            });
        }
    }
    Ok(())
}

/// A jump target inside one rule: the next check, or past the rule's `ret` (it failed).
#[derive(Clone, Copy)]
enum To {
    Skip(u8),
    Fail,
}

/// The instructions of one call: each rule, then the default.
fn call_block(name: &str, rules: &[Rule<'_>], default: u32) -> Result<Vec<Insn>> {
    let mut out = Vec::new();
    for rule in rules {
        let mut checks: Vec<(u16, u32, To, To)> = Vec::new();
        for a in rule.args {
            arg_check(a, &mut checks);
        }
        let len = checks.len();
        for (i, (code, k, jt, jf)) in checks.into_iter().enumerate() {
            // Past the remaining checks and the rule's ret.
            let fail = u8::try_from(len - i).map_err(|_| Error::TooLong(name.to_string()))?;
            let resolve = |t: To| match t {
                To::Skip(n) => n,
                To::Fail => fail,
            };
            out.push(jump(code, k, resolve(jt), resolve(jf)));
        }
        out.push(stmt(RET_K, rule.ret));
        if rule.args.is_empty() {
            // Nothing after an unconditional rule can be reached.
            return Ok(out);
        }
    }
    out.push(stmt(RET_K, default));
    Ok(out)
}

/// Pushes the checks of one 64-bit argument comparison; each falls through when it holds.
/// A load is a "check" that never jumps.
fn arg_check(a: &LinuxSeccompArg, out: &mut Vec<(u16, u32, To, To)>) {
    use LinuxSeccompOperator as Op;
    use To::{Fail, Skip};
    // Little-endian: the low word first (big-endian arches are not supported here).
    let lo_off = OFF_ARGS + 8 * a.index() as u32;
    let hi_off = lo_off + 4;
    let (v_hi, v_lo) = ((a.value() >> 32) as u32, a.value() as u32);
    let load = |off: u32| (LD_W_ABS, off, Skip(0), Skip(0));
    match a.op() {
        Op::ScmpCmpEq => out.extend([
            load(hi_off),
            (JMP_JEQ_K, v_hi, Skip(0), Fail),
            load(lo_off),
            (JMP_JEQ_K, v_lo, Skip(0), Fail),
        ]),
        Op::ScmpCmpNe => out.extend([
            load(hi_off),
            // High words differ: it holds; skip the low word's load and test.
            (JMP_JEQ_K, v_hi, Skip(0), Skip(2)),
            load(lo_off),
            (JMP_JEQ_K, v_lo, Fail, Skip(0)),
        ]),
        Op::ScmpCmpMaskedEq => {
            let d = a.value_two().unwrap_or(0);
            let (d_hi, d_lo) = ((d >> 32) as u32, d as u32);
            out.extend([
                load(hi_off),
                (ALU_AND_K, v_hi, Skip(0), Skip(0)),
                (JMP_JEQ_K, d_hi, Skip(0), Fail),
                load(lo_off),
                (ALU_AND_K, v_lo, Skip(0), Skip(0)),
                (JMP_JEQ_K, d_lo, Skip(0), Fail),
            ]);
        }
        Op::ScmpCmpGt | Op::ScmpCmpGe => {
            let last = if a.op() == Op::ScmpCmpGt {
                JMP_JGT_K
            } else {
                JMP_JGE_K
            };
            out.extend([
                load(hi_off),
                // hi > v_hi: holds, skip the rest (3); hi < v_hi: fails.
                (JMP_JGT_K, v_hi, Skip(3), Skip(0)),
                (JMP_JEQ_K, v_hi, Skip(0), Fail),
                load(lo_off),
                (last, v_lo, Skip(0), Fail),
            ]);
        }
        Op::ScmpCmpLt | Op::ScmpCmpLe => {
            // a < v  is  !(a >= v);  a <= v  is  !(a > v).
            let last = if a.op() == Op::ScmpCmpLt {
                JMP_JGE_K
            } else {
                JMP_JGT_K
            };
            out.extend([
                load(hi_off),
                (JMP_JGT_K, v_hi, Fail, Skip(0)),
                // hi < v_hi: holds, skip the low word (2).
                (JMP_JEQ_K, v_hi, Skip(0), Skip(2)),
                load(lo_off),
                (last, v_lo, Fail, Skip(0)),
            ]);
        }
    }
}

#[cfg(test)]
mod tests;

//! The compiler checked by running its programs in a small classic-BPF interpreter that
//! knows only the instructions we emit (anything else fails the test).

#![allow(clippy::unwrap_used)]

use oci_spec::runtime::{
    LinuxSeccompAction as A, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator as Op, LinuxSyscallBuilder,
};

use super::*;

/// Runs `prog` on a `seccomp_data` of (nr, arch, args).
fn run(prog: &Program, nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = Vec::new();
    data.extend(nr.to_le_bytes());
    data.extend(arch.to_le_bytes());
    data.extend(0u64.to_le_bytes());
    for a in args {
        data.extend(a.to_le_bytes());
    }
    let mut acc = 0u32;
    let mut pc = 0usize;
    for _ in 0..100_000 {
        let i = prog.insns[pc];
        pc += 1;
        match i.code {
            LD_W_ABS => {
                let o = i.k as usize;
                acc = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
            }
            ALU_AND_K => acc &= i.k,
            JMP_JA => pc += i.k as usize,
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => {
                let hit = match i.code {
                    JMP_JEQ_K => acc == i.k,
                    JMP_JGT_K => acc > i.k,
                    _ => acc >= i.k,
                };
                pc += if hit { i.jt } else { i.jf } as usize;
            }
            RET_K => return i.k,
            other => panic!("unexpected opcode {other:#x}"),
        }
    }
    panic!("no ret");
}

fn arch() -> HostArch {
    host_arch().unwrap()
}

fn nr(name: &str) -> u32 {
    arch().number(name).unwrap()
}

fn rule(names: &[&str], action: A, args: Vec<LinuxSeccompArg>) -> LinuxSyscall {
    LinuxSyscallBuilder::default()
        .names(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .action(action)
        .args(args)
        .build()
        .unwrap()
}

fn arg(index: usize, op: Op, value: u64, two: Option<u64>) -> LinuxSeccompArg {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    match two {
        Some(t) => b.value_two(t).build().unwrap(),
        None => b.build().unwrap(),
    }
}

fn profile(default: A, rules: Vec<LinuxSyscall>) -> LinuxSeccomp {
    LinuxSeccompBuilder::default()
        .default_action(default)
        .syscalls(rules)
        .build()
        .unwrap()
}

const EPERM_RET: u32 = RET_ERRNO | 1;

#[test]
fn allowlist_allows_listed_and_denies_the_rest() {
    let p = profile(
        A::ScmpActErrno,
        vec![rule(&["read", "write"], A::ScmpActAllow, vec![])],
    );
    let prog = compile(&p).unwrap();
    let a = arch().audit;
    assert_eq!(run(&prog, nr("read"), a, [0; 6]), RET_ALLOW);
    assert_eq!(run(&prog, nr("write"), a, [0; 6]), RET_ALLOW);
    assert_eq!(run(&prog, nr("mkdirat"), a, [0; 6]), EPERM_RET);
}

#[test]
fn foreign_arch_and_x32_are_killed() {
    let p = profile(A::ScmpActAllow, vec![]);
    let prog = compile(&p).unwrap();
    assert_eq!(run(&prog, 0, 0x4000_0003, [0; 6]), RET_KILL_PROCESS);
    if let Some(bit) = arch().foreign_nr_bit {
        assert_eq!(run(&prog, bit | 1, arch().audit, [0; 6]), RET_KILL_PROCESS);
    }
    assert_eq!(run(&prog, nr("read"), arch().audit, [0; 6]), RET_ALLOW);
}

#[test]
fn errno_ret_is_used() {
    let mut r = rule(&["mkdirat"], A::ScmpActErrno, vec![]);
    r.set_errno_ret(Some(13));
    let mut p = profile(A::ScmpActAllow, vec![r]);
    p.set_default_errno_ret(Some(5));
    let prog = compile(&p).unwrap();
    assert_eq!(
        run(&prog, nr("mkdirat"), arch().audit, [0; 6]),
        RET_ERRNO | 13
    );
    p.set_default_action(A::ScmpActErrno);
    let prog = compile(&p).unwrap();
    assert_eq!(run(&prog, nr("read"), arch().audit, [0; 6]), RET_ERRNO | 5);
}

/// Every operator against values around the boundary, in both 32-bit halves.
#[test]
fn operators_compare_all_64_bits() {
    let v: u64 = 0x0000_0001_0000_0010;
    let probes = [
        0,
        v - 1,
        v,
        v + 1,
        0x0000_0000_ffff_ffff,
        0x0000_0002_0000_0000,
        u64::MAX,
    ];
    type Holds = fn(u64, u64) -> bool;
    let cases: [(Op, Holds); 6] = [
        (Op::ScmpCmpEq, |a, b| a == b),
        (Op::ScmpCmpNe, |a, b| a != b),
        (Op::ScmpCmpLt, |a, b| a < b),
        (Op::ScmpCmpLe, |a, b| a <= b),
        (Op::ScmpCmpGt, |a, b| a > b),
        (Op::ScmpCmpGe, |a, b| a >= b),
    ];
    for (op, f) in cases {
        for index in [0usize, 3] {
            let p = profile(
                A::ScmpActErrno,
                vec![rule(
                    &["read"],
                    A::ScmpActAllow,
                    vec![arg(index, op, v, None)],
                )],
            );
            let prog = compile(&p).unwrap();
            for x in probes {
                let mut args = [0u64; 6];
                args[index] = x;
                let want = if f(x, v) { RET_ALLOW } else { EPERM_RET };
                let got = run(&prog, nr("read"), arch().audit, args);
                assert_eq!(got, want, "{op:?} arg{index} {x:#x} vs {v:#x}");
            }
        }
    }
}

#[test]
fn masked_eq_tests_the_masked_bits() {
    let mask = 0x7E02_0000u64 | (1 << 40);
    let p = profile(
        A::ScmpActErrno,
        vec![rule(
            &["clone"],
            A::ScmpActAllow,
            vec![arg(0, Op::ScmpCmpMaskedEq, mask, Some(0))],
        )],
    );
    let prog = compile(&p).unwrap();
    let call = |flags: u64| run(&prog, nr("clone"), arch().audit, [flags, 0, 0, 0, 0, 0]);
    assert_eq!(call(0x0001_1200), RET_ALLOW);
    assert_eq!(call(0x2000_0000), EPERM_RET);
    assert_eq!(call(1 << 40), EPERM_RET);
    assert_eq!(call(1 << 41), RET_ALLOW);
}

#[test]
fn conditions_of_one_rule_are_anded_and_rules_are_ored() {
    let p = profile(
        A::ScmpActErrno,
        vec![
            rule(
                &["personality"],
                A::ScmpActAllow,
                vec![arg(0, Op::ScmpCmpEq, 8, None)],
            ),
            rule(
                &["personality"],
                A::ScmpActAllow,
                vec![
                    arg(0, Op::ScmpCmpGe, 100, None),
                    arg(1, Op::ScmpCmpEq, 7, None),
                ],
            ),
        ],
    );
    let prog = compile(&p).unwrap();
    let call = |a0: u64, a1: u64| run(&prog, nr("personality"), arch().audit, [a0, a1, 0, 0, 0, 0]);
    assert_eq!(call(8, 0), RET_ALLOW);
    assert_eq!(call(9, 0), EPERM_RET);
    assert_eq!(call(150, 7), RET_ALLOW);
    assert_eq!(call(150, 6), EPERM_RET);
    assert_eq!(call(50, 7), EPERM_RET);
}

#[test]
fn a_conditional_rule_wins_over_the_unconditional_one() {
    let mut deny = rule(
        &["socket"],
        A::ScmpActErrno,
        vec![arg(0, Op::ScmpCmpEq, 40, None)],
    );
    deny.set_errno_ret(Some(97));
    let p = profile(
        A::ScmpActErrno,
        vec![rule(&["socket"], A::ScmpActAllow, vec![]), deny],
    );
    let prog = compile(&p).unwrap();
    let call = |d: u64| run(&prog, nr("socket"), arch().audit, [d, 0, 0, 0, 0, 0]);
    assert_eq!(call(40), RET_ERRNO | 97);
    assert_eq!(call(2), RET_ALLOW);
}

#[test]
fn a_long_block_is_reached_with_ja() {
    let args: Vec<_> = (0..60)
        .map(|i| {
            rule(
                &["read"],
                A::ScmpActAllow,
                vec![arg(0, Op::ScmpCmpEq, i, None)],
            )
        })
        .collect();
    let mut rules = args;
    rules.push(rule(&["write"], A::ScmpActAllow, vec![]));
    let prog = compile(&profile(A::ScmpActErrno, rules)).unwrap();
    assert!(prog.insns.iter().any(|i| i.code == JMP_JA));
    let a = arch().audit;
    assert_eq!(run(&prog, nr("read"), a, [59, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run(&prog, nr("read"), a, [60, 0, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(run(&prog, nr("write"), a, [0; 6]), RET_ALLOW);
}

#[test]
fn names_of_other_arches_are_skipped_and_typos_are_named() {
    let p = profile(
        A::ScmpActErrno,
        vec![rule(&["_llseek", "read"], A::ScmpActAllow, vec![])],
    );
    assert!(compile(&p).is_ok());
    let p = profile(
        A::ScmpActErrno,
        vec![rule(&["read", "mkdri"], A::ScmpActAllow, vec![])],
    );
    let err = compile(&p).unwrap_err().to_string();
    assert!(err.contains("\"mkdri\""), "{err}");
}

#[test]
fn notify_and_bad_args_are_refused() {
    let p = profile(
        A::ScmpActErrno,
        vec![rule(&["read"], A::ScmpActNotify, vec![])],
    );
    assert!(
        compile(&p)
            .unwrap_err()
            .to_string()
            .contains("SCMP_ACT_NOTIFY")
    );
    let p = profile(
        A::ScmpActErrno,
        vec![rule(
            &["read"],
            A::ScmpActAllow,
            vec![arg(6, Op::ScmpCmpEq, 0, None)],
        )],
    );
    assert!(compile(&p).unwrap_err().to_string().contains("index 6"));
    let p = profile(
        A::ScmpActErrno,
        vec![rule(
            &["read"],
            A::ScmpActAllow,
            vec![arg(0, Op::ScmpCmpMaskedEq, 1, None)],
        )],
    );
    assert!(compile(&p).unwrap_err().to_string().contains("valueTwo"));
}

#[test]
fn a_filter_over_the_kernel_limit_is_refused() {
    let rules: Vec<_> = (0..1000)
        .map(|i| {
            rule(
                &["read"],
                A::ScmpActAllow,
                vec![arg(0, Op::ScmpCmpEq, i, None)],
            )
        })
        .collect();
    let err = compile(&profile(A::ScmpActErrno, rules))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("4096"), "{err}");
}

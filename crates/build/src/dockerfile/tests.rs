use super::*;

fn parse(src: &str) -> Dockerfile {
    Dockerfile::parse("Dockerfile", src).unwrap_or_else(|e| panic!("{e}"))
}

fn err(src: &str) -> ParseError {
    Dockerfile::parse("Dockerfile", src).unwrap_err()
}

fn kinds(d: &Dockerfile, stage: usize) -> Vec<&Kind> {
    d.stages[stage]
        .instructions
        .iter()
        .map(|i| &i.kind)
        .collect()
}

#[test]
fn a_multi_stage_file() {
    let d = parse(
        r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
ARG TAG
FROM --platform=linux/amd64 ${BASE}:${TAG:-latest} AS Build
WORKDIR /src
COPY --chown=1:1 --chmod=0644 a.txt "b c.txt" /out/
RUN --mount=type=cache,target=/c --network=none echo hi > /out/x
FROM busybox
COPY --from=build /out /out
CMD ["cat", "/out/x"]
ENTRYPOINT exec sh -c 'x'
"#,
    );
    assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(d.global_args.len(), 2);
    assert_eq!(d.global_args[0].default.as_deref(), Some("busybox"));
    assert_eq!(d.global_args[1].default, None);
    let s0 = &d.stages[0];
    assert_eq!(s0.base, "${BASE}:${TAG:-latest}");
    assert_eq!(s0.name.as_deref(), Some("build"));
    assert_eq!(s0.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(s0.line, 4);
    match kinds(&d, 0)[1] {
        Kind::Copy(c) => {
            assert_eq!(c.flag("chown"), Some("1:1"));
            assert_eq!(c.flag("chmod"), Some("0644"));
            assert_eq!(c.sources, ["a.txt", "\"b c.txt\""]);
            assert_eq!(c.dest, "/out/");
            assert!(!c.json && !c.link());
        }
        k => panic!("{k:?}"),
    }
    match kinds(&d, 0)[2] {
        Kind::Run(r) => {
            assert_eq!(r.flag("network"), Some("none"));
            assert_eq!(r.flag("mount"), Some("type=cache,target=/c"));
            assert_eq!(r.command, Command::Shell("echo hi > /out/x".into()));
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(d.stage("BUILD").map(|(i, _)| i), Some(0));
    assert_eq!(d.stage("1").map(|(i, _)| i), Some(1));
    let k = kinds(&d, 1);
    assert_eq!(
        *k[1],
        Kind::Cmd(Command::Exec(vec!["cat".into(), "/out/x".into()]))
    );
    assert_eq!(
        *k[2],
        Kind::Entrypoint(Command::Shell("exec sh -c 'x'".into()))
    );
    assert_eq!(d.stages[1].instructions[2].line, 11);
}

#[test]
fn env_label_and_arg_forms() {
    let d = parse(
        "FROM x\nENV A=1 B=\"two words\" C=three\\ words\nENV LEGACY value with spaces\nLABEL org.k=v \"q k\"=w\nARG X Y=2\n",
    );
    let k = kinds(&d, 0);
    assert_eq!(
        *k[0],
        Kind::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "\"two words\"".into()),
            ("C".into(), "three\\ words".into()),
        ])
    );
    assert_eq!(
        *k[1],
        Kind::Env(vec![("LEGACY".into(), "value with spaces".into())])
    );
    match k[2] {
        Kind::Label(l) => assert_eq!(l[1], ("\"q k\"".into(), "w".into())),
        k => panic!("{k:?}"),
    }
    match k[3] {
        Kind::Arg(a) => {
            assert_eq!(a[0].name, "X");
            assert_eq!(a[1].default.as_deref(), Some("2"));
        }
        k => panic!("{k:?}"),
    }
    // Values expand later with the words expander.
    let words = d.words();
    let env = |n: &str| (n == "A").then(|| "1".to_string());
    assert_eq!(words.expand("\"two $A\"", &env).unwrap(), "two 1");
    assert!(err("FROM x\nENV A=1 B\n").message.contains("can't find ="));
    assert!(err("FROM x\nENV ONLYKEY\n").message.contains("no value"));
}

#[test]
fn other_instructions() {
    let d = parse(
        "from x\nexpose 80/tcp 53/udp\nvolume [\"/a\", \"/b\"]\nvolume /c /d\nuser 1000:1000\nstopsignal SIGINT\nshell [\"/bin/sh\", \"-ec\"]\nhealthcheck --interval=5s --retries=3 CMD wget -q localhost\nHEALTHCHECK NONE\nONBUILD RUN echo hi\nMAINTAINER me\nADD --link https://example.invalid/x /y\n",
    );
    let k = kinds(&d, 0);
    assert_eq!(*k[0], Kind::Expose(vec!["80/tcp".into(), "53/udp".into()]));
    assert_eq!(*k[1], Kind::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(*k[2], Kind::Volume(vec!["/c".into(), "/d".into()]));
    assert_eq!(*k[3], Kind::User("1000:1000".into()));
    assert_eq!(*k[4], Kind::StopSignal("SIGINT".into()));
    assert_eq!(*k[5], Kind::Shell(vec!["/bin/sh".into(), "-ec".into()]));
    match k[6] {
        Kind::Healthcheck(Healthcheck::Check { flags, command }) => {
            assert_eq!(flags.len(), 2);
            assert_eq!(*command, Command::Shell("wget -q localhost".into()));
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(*k[7], Kind::Healthcheck(Healthcheck::None));
    match k[8] {
        Kind::Onbuild { text, inner } => {
            assert_eq!(text, "RUN echo hi");
            assert_eq!(inner.keyword(), "RUN");
        }
        k => panic!("{k:?}"),
    }
    match k[10] {
        Kind::Add(a) => assert!(a.link()),
        k => panic!("{k:?}"),
    }
}

#[test]
fn exec_form_falls_back_to_shell_when_not_json() {
    let d = parse("FROM x\nRUN [\"echo\", 'single']\nCMD []\n");
    let k = kinds(&d, 0);
    assert_eq!(
        *k[0],
        Kind::Run(Run {
            flags: vec![],
            command: Command::Shell("[\"echo\", 'single']".into()),
            heredocs: vec![],
        })
    );
    assert_eq!(*k[1], Kind::Cmd(Command::Exec(vec![])));
}

#[test]
fn heredocs_reach_their_instruction() {
    let d = parse(
        "FROM x\nRUN <<EOF\nset -e\necho \"$HOME\"\nEOF\nCOPY <<-EOT /etc/motd\n\thello\n\tEOT\nRUN echo done\n",
    );
    let k = kinds(&d, 0);
    match k[0] {
        Kind::Run(r) => {
            assert_eq!(r.command, Command::Shell("<<EOF".into()));
            assert_eq!(r.heredocs[0].content, "set -e\necho \"$HOME\"\n");
        }
        k => panic!("{k:?}"),
    }
    match k[1] {
        Kind::Copy(c) => {
            assert_eq!(c.sources, ["<<-EOT"]);
            assert_eq!(c.dest, "/etc/motd");
            assert_eq!(c.heredocs[0].content, "hello\n");
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(d.stages[0].instructions[2].line, 9);
}

#[test]
fn errors_name_the_line() {
    let e = err("FROM x\n\nRUNN echo\n");
    assert_eq!(e.line, 3);
    assert_eq!(
        e.to_string(),
        "Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)"
    );
    assert!(
        err("RUN x\nFROM y\n")
            .message
            .contains("before the first FROM")
    );
    assert!(err("ARG A\n").message.contains("no FROM"));
    assert!(err("FROM a b\n").message.contains("one or three"));
    assert!(err("FROM a AS 9x\n").message.contains("invalid stage name"));
    assert!(
        err("FROM a\nCOPY --frm=b x y\n")
            .message
            .contains("unknown flag: --frm")
    );
    assert!(err("FROM a\nCOPY x\n").message.contains("two arguments"));
    assert!(err("FROM a\nSHELL sh -c\n").message.contains("JSON"));
    assert!(
        err("FROM a\nONBUILD ONBUILD RUN x\n")
            .message
            .contains("chaining")
    );
    assert!(
        err("FROM a\nHEALTHCHECK --interval=1s NONE\n")
            .message
            .contains("NONE")
    );
    assert!(err("FROM a\nCMD\n").message.contains("at least one"));
    assert!(err("FROM a\nLABEL \"open=1\n").message.contains("quote"));
}

#[test]
fn escape_directive_changes_continuations_and_words() {
    let d = parse("# escape=`\nFROM x\nRUN dir C:\\ `\n  && echo $A\nCOPY a` b c\n");
    let k = kinds(&d, 0);
    assert_eq!(
        *k[0],
        Kind::Run(Run {
            flags: vec![],
            command: Command::Shell("dir C:\\   && echo $A".into()),
            heredocs: vec![],
        })
    );
    match k[1] {
        Kind::Copy(c) => assert_eq!(c.sources, ["a` b"]),
        k => panic!("{k:?}"),
    }
    let none = |_: &str| None;
    assert_eq!(d.words().expand("a` b", &none).unwrap(), "a b");
}

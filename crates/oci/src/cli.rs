//! The command line, as runc and crun take it: global options (before or after the verb),
//! one verb, its options and its operands.
//!
//! Parsed by hand from a table of options. clap built its whole tree of commands and
//! arguments at every start: 0.29 ms of a 3.5 ms `run /bin/true` (an ftrace of one run:
//! the gap between the runtime's start-up and its first syscall of its own). This grammar
//! is small, and every runtime call pays for the parse.

use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, PartialEq)]
pub struct Cli {
    /// Where container state lives.
    pub root: PathBuf,
    /// Also write errors to this file.
    pub log: Option<PathBuf>,
    /// The format of --log.
    pub log_format: LogFormat,
    /// Accepted for compatibility, and refused: cgroups are managed through cgroupfs.
    pub systemd_cgroup: bool,
    /// Accepted and ignored, as runc does.
    pub debug: bool,
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, PartialEq)]
pub enum Command {
    Create(CreateArgs),
    Start {
        id: String,
    },
    State {
        id: String,
    },
    Kill {
        id: String,
        signal: Option<String>,
        all: bool,
    },
    Delete {
        id: String,
        force: bool,
    },
    Run(RunArgs),
    Exec(ExecArgs),
    List {
        format: ListFormat,
        quiet: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, PartialEq)]
pub struct ExecArgs {
    /// The process as an OCI `process` JSON object (instead of the arguments).
    pub process: Option<PathBuf>,
    /// KEY=VALUE, repeatable.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// uid[:gid] to run as.
    pub user: Option<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub id: String,
    /// The command and its arguments (without --process).
    pub args: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub struct CreateArgs {
    pub id: String,
    /// The bundle: a directory with config.json.
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Accepted for compatibility; pivot_root is always used.
    pub no_pivot: bool,
    /// Accepted for compatibility; a new session keyring is never made.
    pub no_new_keyring: bool,
}

#[derive(Debug, PartialEq)]
pub struct RunArgs {
    pub create: CreateArgs,
    pub detach: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Box<Cli>),
    /// Print this (help or version) and exit 0.
    Print(String),
}

/// A command line we cannot take: the message, for stderr and exit code 2.
#[derive(Debug, PartialEq)]
pub struct UsageError(pub String);

/// One option: its long name, its short letter, whether it takes a value, and where it
/// is allowed (`None`: everywhere, as a global option).
struct Opt {
    long: &'static str,
    short: Option<char>,
    value: bool,
    verbs: Option<&'static [&'static str]>,
}

const fn opt(
    long: &'static str,
    short: Option<char>,
    value: bool,
    verbs: Option<&'static [&'static str]>,
) -> Opt {
    Opt {
        long,
        short,
        value,
        verbs,
    }
}

const CREATE: &[&str] = &["create", "run"];
const OPTS: &[Opt] = &[
    opt("root", None, true, None),
    opt("log", None, true, None),
    opt("log-format", None, true, None),
    opt("systemd-cgroup", None, false, None),
    opt("debug", None, false, None),
    opt("help", Some('h'), false, None),
    opt("version", Some('V'), false, None),
    opt("bundle", Some('b'), true, Some(CREATE)),
    opt("pid-file", None, true, Some(&["create", "run", "exec"])),
    opt(
        "console-socket",
        None,
        true,
        Some(&["create", "run", "exec"]),
    ),
    opt("no-pivot", None, false, Some(CREATE)),
    opt("no-new-keyring", None, false, Some(CREATE)),
    opt("detach", Some('d'), false, Some(&["run", "exec"])),
    opt("all", Some('a'), false, Some(&["kill"])),
    opt("force", Some('f'), false, Some(&["delete"])),
    opt("format", Some('f'), true, Some(&["list"])),
    opt("quiet", Some('q'), false, Some(&["list"])),
    opt("process", Some('p'), true, Some(&["exec"])),
    opt("env", Some('e'), true, Some(&["exec"])),
    opt("cwd", None, true, Some(&["exec"])),
    opt("user", Some('u'), true, Some(&["exec"])),
    opt("tty", Some('t'), false, Some(&["exec"])),
];

const VERBS: &[(&str, &str)] = &[
    (
        "create",
        "create [--bundle DIR] [--pid-file F] [--console-socket S] ID\n  Create a container from a bundle; it waits for `start`.",
    ),
    ("start", "start ID\n  Start a created container's process."),
    (
        "state",
        "state ID\n  Print a container's state as OCI state JSON.",
    ),
    (
        "kill",
        "kill [--all] ID [SIGNAL]\n  Send a signal (default SIGTERM) to a container's init (--all: to every process).",
    ),
    (
        "delete",
        "delete [--force] ID\n  Remove a stopped container (--force: kill it first).",
    ),
    (
        "run",
        "run [--bundle DIR] [--pid-file F] [--detach] ID\n  Create and start a container; without --detach, wait and exit with its status.",
    ),
    (
        "exec",
        "exec [--process F | -e K=V... --cwd DIR --user UID[:GID]] [--tty --console-socket S] [--detach] [--pid-file F] ID [COMMAND ARG...]\n  Run a process in a running container.",
    ),
    (
        "list",
        "list [--format table|json] [--quiet]\n  List containers.",
    ),
];

fn help(verb: Option<&str>) -> String {
    if let Some((_, text)) = verb.and_then(|v| VERBS.iter().find(|(n, _)| *n == v)) {
        return format!("Usage: compose-oci [GLOBAL OPTIONS] {text}\n");
    }
    let mut s = String::from(
        "An OCI runtime on compose's container runtime\n\n\
         Usage: compose-oci [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n\
         Global options (also after the command):\n  \
         --root DIR            where container state lives [default: /run/compose-oci]\n  \
         --log FILE            also write errors to this file\n  \
         --log-format FORMAT   text or json [default: text]\n  \
         -h, --help            print help (COMMAND --help: of that command)\n  \
         -V, --version         print the version\n\nCommands:\n",
    );
    for (_, text) in VERBS {
        let (usage, what) = text.split_once('\n').unwrap_or((text, ""));
        s.push_str(&format!("  {usage}\n    {}\n", what.trim()));
    }
    s
}

/// What was given, before it is checked against the verb's needs.
#[derive(Default)]
struct Raw {
    verb: Option<String>,
    values: Vec<(&'static str, OsString)>,
    flags: Vec<&'static str>,
    operands: Vec<OsString>,
}

impl Raw {
    fn value(&self, long: &str) -> Option<&OsString> {
        self.values
            .iter()
            .rev()
            .find(|(l, _)| *l == long)
            .map(|(_, v)| v)
    }

    fn path(&self, long: &str) -> Option<PathBuf> {
        self.value(long).map(PathBuf::from)
    }

    fn string(&self, long: &str) -> Result<Option<String>, UsageError> {
        self.value(long).map(|v| utf8(v, long)).transpose()
    }

    fn strings(&self, long: &str) -> Result<Vec<String>, UsageError> {
        self.values
            .iter()
            .filter(|(l, _)| *l == long)
            .map(|(_, v)| utf8(v, long))
            .collect()
    }

    fn flag(&self, long: &str) -> bool {
        self.flags.contains(&long)
    }
}

fn utf8(v: &OsString, what: &str) -> Result<String, UsageError> {
    v.to_str()
        .map(str::to_string)
        .ok_or_else(|| UsageError(format!("{what}: {v:?} is not UTF-8")))
}

fn find(verb: Option<&str>, long: Option<&str>, short: Option<char>) -> Option<&'static Opt> {
    OPTS.iter().find(|o| {
        let named = long.is_some_and(|l| l == o.long) || (short.is_some() && short == o.short);
        let here = match (o.verbs, verb) {
            (None, _) => true,
            (Some(vs), Some(v)) => vs.contains(&v),
            (Some(_), None) => false,
        };
        named && here
    })
}

impl Cli {
    /// Parses the program's arguments (the program name excluded).
    pub fn parse_from(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, UsageError> {
        let mut raw = Raw::default();
        let mut it = args.into_iter();
        let mut rest_are_operands = false;
        while let Some(arg) = it.next() {
            let verb = raw.verb.as_deref();
            let text = arg.to_str().unwrap_or("");
            if rest_are_operands || !text.starts_with('-') || text == "-" {
                if raw.verb.is_none() && !rest_are_operands {
                    if !VERBS.iter().any(|(n, _)| *n == text) {
                        let msg = format!("unknown command {arg:?}\n\n{}", help(None));
                        return Err(UsageError(msg));
                    }
                    raw.verb = Some(text.to_string());
                } else {
                    raw.operands.push(arg);
                    // exec: from the command's first word on, every argument is the
                    // command's, options included.
                    if verb == Some("exec") && raw.operands.len() > 1 {
                        raw.operands.extend(it.by_ref());
                    }
                }
                continue;
            }
            if text == "--" {
                rest_are_operands = true;
                continue;
            }
            let (o, inline) = if let Some(long) = text.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(OsString::from(v))),
                    None => (long, None),
                };
                let o = find(verb, Some(name), None).ok_or_else(|| unknown(verb, text))?;
                (o, inline)
            } else {
                // -x, -xVALUE, -x=VALUE; -abc for flags.
                let mut chars = text[1..].chars();
                let mut o = None;
                let mut inline = None;
                while let Some(c) = chars.next() {
                    let found = find(verb, None, Some(c)).ok_or_else(|| unknown(verb, text))?;
                    if found.value {
                        let tail = chars.as_str();
                        let tail = tail.strip_prefix('=').unwrap_or(tail);
                        inline = (!tail.is_empty()).then(|| OsString::from(tail));
                        o = Some(found);
                        break;
                    }
                    if chars.as_str().is_empty() {
                        o = Some(found);
                    } else {
                        raw.flags.push(found.long);
                    }
                }
                (o.ok_or_else(|| unknown(verb, text))?, inline)
            };
            match o.long {
                "help" => return Ok(Parsed::Print(help(verb))),
                "version" => {
                    let v = format!("compose-oci {}\n", env!("CARGO_PKG_VERSION"));
                    return Ok(Parsed::Print(v));
                }
                _ => {}
            }
            if o.value {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| UsageError(format!("--{} needs a value", o.long)))?,
                };
                raw.values.push((o.long, v));
            } else if inline.is_some() {
                return Err(UsageError(format!("--{} takes no value", o.long)));
            } else {
                raw.flags.push(o.long);
            }
        }
        build(raw).map(|c| Parsed::Run(Box::new(c)))
    }
}

fn unknown(verb: Option<&str>, arg: &str) -> UsageError {
    let usage = help(verb);
    match verb {
        Some(v) => UsageError(format!("{v}: unknown option {arg:?}\n\n{usage}")),
        None => UsageError(format!("unknown option {arg:?}\n\n{usage}")),
    }
}

/// The verb's operands, exactly `names.len()` of them up to `optional` missing at the end.
fn operands(
    raw: &Raw,
    verb: &str,
    names: &[&str],
    optional: usize,
) -> Result<Vec<String>, UsageError> {
    let n = raw.operands.len();
    if n > names.len() {
        let extra = &raw.operands[names.len()];
        let msg = format!(
            "{verb}: unexpected argument {extra:?}\n\n{}",
            help(Some(verb))
        );
        return Err(UsageError(msg));
    }
    if n + optional < names.len() {
        let msg = format!("{verb}: {} is missing\n\n{}", names[n], help(Some(verb)));
        return Err(UsageError(msg));
    }
    raw.operands
        .iter()
        .zip(names)
        .map(|(v, name)| utf8(v, name))
        .collect()
}

fn build(raw: Raw) -> Result<Cli, UsageError> {
    let Some(verb) = raw.verb.clone() else {
        return Err(UsageError(format!("no command given\n\n{}", help(None))));
    };
    let create = |raw: &Raw, verb: &str| -> Result<CreateArgs, UsageError> {
        let id = operands(raw, verb, &["the container id"], 0)?.remove(0);
        Ok(CreateArgs {
            id,
            bundle: raw.path("bundle").unwrap_or_else(|| PathBuf::from(".")),
            pid_file: raw.path("pid-file"),
            console_socket: raw.path("console-socket"),
            no_pivot: raw.flag("no-pivot"),
            no_new_keyring: raw.flag("no-new-keyring"),
        })
    };
    let id = |raw: &Raw| operands(raw, &verb, &["the container id"], 0).map(|mut v| v.remove(0));
    let command = match verb.as_str() {
        "create" => Command::Create(create(&raw, "create")?),
        "run" => Command::Run(RunArgs {
            create: create(&raw, "run")?,
            detach: raw.flag("detach"),
        }),
        "start" => Command::Start { id: id(&raw)? },
        "state" => Command::State { id: id(&raw)? },
        "kill" => {
            let mut v = operands(&raw, "kill", &["the container id", "the signal"], 1)?;
            let signal = (v.len() > 1).then(|| v.remove(1));
            Command::Kill {
                id: v.remove(0),
                signal,
                all: raw.flag("all"),
            }
        }
        "delete" => Command::Delete {
            id: id(&raw)?,
            force: raw.flag("force"),
        },
        "list" => {
            operands(&raw, "list", &[], 0)?;
            let format = match raw.string("format")?.as_deref() {
                None | Some("table") => ListFormat::Table,
                Some("json") => ListFormat::Json,
                Some(other) => {
                    let msg = format!("--format: {other:?} is neither table nor json");
                    return Err(UsageError(msg));
                }
            };
            Command::List {
                format,
                quiet: raw.flag("quiet"),
            }
        }
        "exec" => {
            let Some((first, command)) = raw.operands.split_first() else {
                let msg = format!(
                    "exec: the container id is missing\n\n{}",
                    help(Some("exec"))
                );
                return Err(UsageError(msg));
            };
            Command::Exec(ExecArgs {
                process: raw.path("process"),
                env: raw.strings("env")?,
                cwd: raw.string("cwd")?,
                user: raw.string("user")?,
                detach: raw.flag("detach"),
                pid_file: raw.path("pid-file"),
                tty: raw.flag("tty"),
                console_socket: raw.path("console-socket"),
                id: utf8(first, "the container id")?,
                args: command
                    .iter()
                    .map(|a| utf8(a, "the command"))
                    .collect::<Result<_, _>>()?,
            })
        }
        other => return Err(UsageError(format!("unknown command {other:?}"))),
    };
    let log_format = match raw.string("log-format")?.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(UsageError(format!(
                "--log-format: {other:?} is neither text nor json"
            )));
        }
    };
    Ok(Cli {
        root: raw
            .path("root")
            .unwrap_or_else(|| PathBuf::from("/run/compose-oci")),
        log: raw.path("log"),
        log_format,
        systemd_cgroup: raw.flag("systemd-cgroup"),
        debug: raw.flag("debug"),
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Parsed, UsageError> {
        Cli::parse_from(line.split_whitespace().map(OsString::from))
    }

    fn cli(line: &str) -> Cli {
        match parse(line) {
            Ok(Parsed::Run(c)) => *c,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn create(id: &str, bundle: &str) -> CreateArgs {
        CreateArgs {
            id: id.into(),
            bundle: bundle.into(),
            pid_file: None,
            console_socket: None,
            no_pivot: false,
            no_new_keyring: false,
        }
    }

    /// What conmon (under podman) sends, global options first.
    #[test]
    fn conmon_s_create() {
        let c = cli(
            "--root /r --log /l.json --log-format json create --bundle /b \
                     --pid-file /p --no-new-keyring c1",
        );
        assert_eq!(c.root, PathBuf::from("/r"));
        assert_eq!(c.log, Some(PathBuf::from("/l.json")));
        assert_eq!(c.log_format, LogFormat::Json);
        let mut want = create("c1", "/b");
        want.pid_file = Some("/p".into());
        want.no_new_keyring = true;
        assert_eq!(c.command, Command::Create(want));
    }

    /// Global options may come after the verb; `--x=v` and `-xv` forms; defaults.
    #[test]
    fn forms_and_defaults() {
        let c = cli("run -d x --root=/r -b/b");
        assert_eq!(c.root, PathBuf::from("/r"));
        let want = RunArgs {
            create: create("x", "/b"),
            detach: true,
        };
        assert_eq!(c.command, Command::Run(want));
        let c = cli("run x");
        assert_eq!(c.root, PathBuf::from("/run/compose-oci"));
        assert_eq!(c.log_format, LogFormat::Text);
        let Command::Run(r) = c.command else { panic!() };
        assert_eq!(r.create.bundle, PathBuf::from("."));
        assert!(cli("--systemd-cgroup --debug state x").systemd_cgroup);
    }

    #[test]
    fn kill_delete_list() {
        let kill = |l: &str| cli(l).command;
        assert_eq!(
            kill("kill --all x KILL"),
            Command::Kill {
                id: "x".into(),
                signal: Some("KILL".into()),
                all: true
            }
        );
        assert_eq!(
            kill("kill x"),
            Command::Kill {
                id: "x".into(),
                signal: None,
                all: false
            }
        );
        assert_eq!(
            kill("delete -f x"),
            Command::Delete {
                id: "x".into(),
                force: true
            }
        );
        assert_eq!(
            kill("list -q --format json"),
            Command::List {
                format: ListFormat::Json,
                quiet: true
            }
        );
        // -f means --format for list, --force for delete.
        assert_eq!(
            kill("list -f json"),
            Command::List {
                format: ListFormat::Json,
                quiet: false
            }
        );
    }

    /// exec: the command's own options stay the command's.
    #[test]
    fn exec_keeps_the_command_s_arguments() {
        let Command::Exec(e) =
            cli("exec -e A=1 --env B=2 -u 1:2 --cwd /w -t x ls -la --x -e y").command
        else {
            panic!()
        };
        assert_eq!(e.id, "x");
        assert_eq!(e.env, ["A=1", "B=2"]);
        assert_eq!(e.user.as_deref(), Some("1:2"));
        assert_eq!(e.cwd.as_deref(), Some("/w"));
        assert!(e.tty);
        assert_eq!(e.args, ["ls", "-la", "--x", "-e", "y"]);
        let Command::Exec(e) = cli("exec --detach --pid-file /p --process /proc.json x").command
        else {
            panic!()
        };
        assert_eq!(e.process, Some(PathBuf::from("/proc.json")));
        assert!(e.detach && e.args.is_empty());
        let Command::Exec(e) = cli("exec x -- sh -c true").command else {
            panic!()
        };
        assert_eq!(e.args, ["sh", "-c", "true"]);
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for bad in [
            "",
            "frobnicate x",
            "create",
            "start a b",
            "delete --all x",
            "create --bundle",
            "--log-format yaml state x",
            "list --format yaml",
            "state --bogus x",
            "delete -f=1 x",
        ] {
            assert!(matches!(parse(bad), Err(UsageError(_))), "{bad:?}");
        }
        let Err(UsageError(msg)) = parse("start") else {
            panic!()
        };
        assert!(msg.contains("the container id is missing"), "{msg}");
    }

    #[test]
    fn help_and_version() {
        let Ok(Parsed::Print(v)) = parse("--version") else {
            panic!()
        };
        assert!(v.starts_with("compose-oci "), "{v}");
        let Ok(Parsed::Print(h)) = parse("kill --help") else {
            panic!()
        };
        assert!(h.contains("kill [--all] ID [SIGNAL]"), "{h}");
        let Ok(Parsed::Print(h)) = parse("-h") else {
            panic!()
        };
        assert!(h.contains("Commands:") && h.contains("exec"), "{h}");
    }
}

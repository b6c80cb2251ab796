//! One instruction from its logical line: the keyword, its `--flags`, and its arguments in
//! the form Docker gives them (exec JSON or shell text, `name=value` pairs, words).

use super::Heredoc;
use super::words::Words;

/// A build stage: a `FROM` and what follows up to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub line: usize,
    /// The base image or stage name as written (may hold `$ARG`s of the global scope).
    pub base: String,
    /// `AS name`, lowercased as Docker matches names.
    pub name: Option<String>,
    /// `--platform=...` as written.
    pub platform: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// An instruction of a stage and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    /// The instruction as written (continuations joined), for progress and history.
    pub text: String,
    pub kind: Kind,
}

/// What an instruction says. Texts are as written: the builder expands those Docker
/// expands, with the values in scope at that step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    From(Box<Stage>),
    Run(Run),
    Cmd(Command),
    Entrypoint(Command),
    /// Always the JSON form.
    Shell(Vec<String>),
    /// `name=value` pairs (the legacy `ENV name value` gives one pair).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Add(AddCopy),
    Copy(AddCopy),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Arg(Vec<ArgDecl>),
    /// The trigger as written (it goes into the image config) and as parsed.
    Onbuild {
        text: String,
        inner: Box<Kind>,
    },
    StopSignal(String),
    Healthcheck(Healthcheck),
    Maintainer(String),
}

impl Kind {
    /// The instruction's keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Kind::From(_) => "FROM",
            Kind::Run(_) => "RUN",
            Kind::Cmd(_) => "CMD",
            Kind::Entrypoint(_) => "ENTRYPOINT",
            Kind::Shell(_) => "SHELL",
            Kind::Env(_) => "ENV",
            Kind::Label(_) => "LABEL",
            Kind::Expose(_) => "EXPOSE",
            Kind::Add(_) => "ADD",
            Kind::Copy(_) => "COPY",
            Kind::Volume(_) => "VOLUME",
            Kind::User(_) => "USER",
            Kind::Workdir(_) => "WORKDIR",
            Kind::Arg(_) => "ARG",
            Kind::Onbuild { .. } => "ONBUILD",
            Kind::StopSignal(_) => "STOPSIGNAL",
            Kind::Healthcheck(_) => "HEALTHCHECK",
            Kind::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// `RUN`, `CMD` and `ENTRYPOINT` arguments: the exec form runs as is, the shell form
/// through the stage's `SHELL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// A `--name[=value]` flag as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// `--mount`, `--network`, `--security`.
    pub flags: Vec<Flag>,
    pub command: Command,
    pub heredocs: Vec<Heredoc>,
}

/// `COPY` / `ADD`: sources then the destination (a `<<NAME` source is a here-document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCopy {
    pub flags: Vec<Flag>,
    pub sources: Vec<String>,
    pub dest: String,
    pub heredocs: Vec<Heredoc>,
    /// Written in the JSON form: no word expansion of the paths' quotes.
    pub json: bool,
}

impl AddCopy {
    /// The last value of flag `name`.
    pub fn flag(&self, name: &str) -> Option<&str> {
        flag_value(&self.flags, name)
    }

    /// `--link` (or `--link=true`).
    pub fn link(&self) -> bool {
        self.flags
            .iter()
            .rev()
            .find(|f| f.name == "link")
            .is_some_and(|f| f.value.as_deref().is_none_or(|v| v == "true"))
    }
}

impl Run {
    pub fn flag(&self, name: &str) -> Option<&str> {
        flag_value(&self.flags, name)
    }
}

fn flag_value<'a>(flags: &'a [Flag], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .rev()
        .find(|f| f.name == name)
        .and_then(|f| f.value.as_deref())
}

/// `ARG name` or `ARG name=default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// As written (quotes included): expanded when the stage runs.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: the base image's check is disabled.
    None,
    Check {
        /// `--interval`, `--timeout`, `--start-period`, `--start-interval`, `--retries`.
        flags: Vec<Flag>,
        command: Command,
    },
}

const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Parses one logical line.
pub(crate) fn parse(
    text: &str,
    heredocs: Vec<Heredoc>,
    line: usize,
    words: Words,
) -> Result<Instruction, String> {
    let text = text.trim();
    let (keyword, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    let upper = keyword.to_ascii_uppercase();
    let kind = match upper.as_str() {
        "FROM" => from(rest, line, words)?,
        "RUN" => {
            let (flags, rest) = flags(rest, &["mount", "network", "security"], words)?;
            Kind::Run(Run {
                flags,
                command: command("RUN", rest)?,
                heredocs,
            })
        }
        "CMD" => Kind::Cmd(command("CMD", rest)?),
        "ENTRYPOINT" => Kind::Entrypoint(command("ENTRYPOINT", rest)?),
        "SHELL" => match json_array(rest) {
            Some(v) if !v.is_empty() => Kind::Shell(v),
            _ => return Err("SHELL requires the arguments to be in JSON form".into()),
        },
        "ENV" => Kind::Env(pairs("ENV", rest, words)?),
        "LABEL" => Kind::Label(pairs("LABEL", rest, words)?),
        "EXPOSE" => Kind::Expose(nonempty("EXPOSE", split(rest, words)?)?),
        "ADD" => Kind::Add(add_copy(
            "ADD",
            rest,
            heredocs,
            &[
                "chown",
                "chmod",
                "link",
                "keep-git-dir",
                "checksum",
                "exclude",
            ],
            words,
        )?),
        "COPY" => Kind::Copy(add_copy(
            "COPY",
            rest,
            heredocs,
            &["from", "chown", "chmod", "link", "parents", "exclude"],
            words,
        )?),
        "VOLUME" => Kind::Volume(nonempty(
            "VOLUME",
            match json_array(rest) {
                Some(v) => v,
                None => split(rest, words)?,
            },
        )?),
        "USER" => Kind::User(one_text("USER", rest)?),
        "WORKDIR" => Kind::Workdir(one_text("WORKDIR", rest)?),
        "STOPSIGNAL" => Kind::StopSignal(one_text("STOPSIGNAL", rest)?),
        "MAINTAINER" => Kind::Maintainer(one_text("MAINTAINER", rest)?),
        "ARG" => Kind::Arg(args(rest, words)?),
        "HEALTHCHECK" => healthcheck(rest, words)?,
        "ONBUILD" => onbuild(rest, line, words)?,
        _ => return Err(unknown(keyword)),
    };
    Ok(Instruction {
        line,
        text: text.to_string(),
        kind,
    })
}

fn unknown(keyword: &str) -> String {
    let upper = keyword.to_ascii_uppercase();
    let best = KEYWORDS
        .iter()
        .map(|k| (strsim::levenshtein(k, &upper), k))
        .min();
    match best {
        Some((d, k)) if d <= 2 => format!("unknown instruction: {keyword} (did you mean {k}?)"),
        _ => format!("unknown instruction: {keyword}"),
    }
}

fn split(rest: &str, words: Words) -> Result<Vec<String>, String> {
    words.split_raw(rest).map_err(|e| e.to_string())
}

fn nonempty(keyword: &str, v: Vec<String>) -> Result<Vec<String>, String> {
    if v.is_empty() {
        return Err(format!("{keyword} requires at least one argument"));
    }
    Ok(v)
}

fn one_text(keyword: &str, rest: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Err(format!("{keyword} requires exactly one argument"));
    }
    Ok(rest.to_string())
}

/// The JSON exec form, when `rest` is a JSON array of strings.
fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

fn command(keyword: &str, rest: &str) -> Result<Command, String> {
    if let Some(v) = json_array(rest) {
        return Ok(Command::Exec(v));
    }
    if rest.is_empty() {
        return Err(format!("{keyword} requires at least one argument"));
    }
    Ok(Command::Shell(rest.to_string()))
}

/// Leading `--name[=value]` words, checked against the instruction's flags.
fn flags<'a>(
    rest: &'a str,
    allowed: &[&str],
    words: Words,
) -> Result<(Vec<Flag>, &'a str), String> {
    let mut out = Vec::new();
    let mut rest = rest.trim_start();
    while rest.starts_with("--") {
        let (word, after) = next_word(rest, words.escape);
        let word = &word[2..];
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (word, None),
        };
        if !allowed.contains(&name) {
            return Err(format!("unknown flag: --{name}"));
        }
        out.push(Flag {
            name: name.to_string(),
            value,
        });
        rest = after.trim_start();
    }
    Ok((out, rest))
}

/// The first whitespace-delimited word of `s` (quotes may hold spaces) and what follows.
fn next_word(s: &str, escape: char) -> (&str, &str) {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == escape => escaped = true,
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() => return (&s[..i], &s[i..]),
            None => {}
        }
    }
    (s, "")
}

fn from(rest: &str, line: usize, words: Words) -> Result<Kind, String> {
    let (flags, rest) = flags(rest, &["platform"], words)?;
    let parts = split(rest, words)?;
    let (base, name) = match parts.as_slice() {
        [base] => (base.clone(), None),
        [base, r#as, name] if r#as.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(format!(
                    "invalid stage name {name:?}: it must start with a letter and hold only letters, digits, '-', '_' and '.'"
                ));
            }
            (base.clone(), Some(name))
        }
        _ => return Err("FROM requires either one or three arguments (image [AS name])".into()),
    };
    Ok(Kind::From(Box::new(Stage {
        line,
        base,
        name,
        platform: flags.into_iter().rev().find_map(|f| f.value),
        instructions: Vec::new(),
    })))
}

/// `ENV`/`LABEL`: `name=value ...`, or the legacy `name value with spaces`.
fn pairs(keyword: &str, rest: &str, words: Words) -> Result<Vec<(String, String)>, String> {
    let parts = split(rest, words)?;
    let Some(first) = parts.first() else {
        return Err(format!("{keyword} requires at least one argument"));
    };
    if !first.contains('=') {
        let value = rest[first.len()..].trim();
        if value.is_empty() {
            return Err(format!(
                "{keyword} {first} has no value: use {keyword} {first}=value"
            ));
        }
        return Ok(vec![(first.clone(), value.to_string())]);
    }
    parts
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!(
                "{keyword}: can't find = in {w:?}: the form is name=value"
            )),
        })
        .collect()
}

fn args(rest: &str, words: Words) -> Result<Vec<ArgDecl>, String> {
    let decls = nonempty("ARG", split(rest, words)?)?;
    decls
        .into_iter()
        .map(|w| {
            let (name, default) = match w.split_once('=') {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (w, None),
            };
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
            if !ok {
                return Err(format!("ARG: invalid name {name:?}"));
            }
            Ok(ArgDecl { name, default })
        })
        .collect()
}

fn add_copy(
    keyword: &str,
    rest: &str,
    heredocs: Vec<Heredoc>,
    allowed: &[&str],
    words: Words,
) -> Result<AddCopy, String> {
    let (flags, rest) = flags(rest, allowed, words)?;
    let (mut paths, json) = match json_array(rest) {
        Some(v) => (v, true),
        None => (split(rest, words)?, false),
    };
    if paths.len() < 2 {
        return Err(format!(
            "{keyword} requires at least two arguments (sources and a destination)"
        ));
    }
    let dest = paths.pop().unwrap_or_default();
    Ok(AddCopy {
        flags,
        sources: paths,
        dest,
        heredocs,
        json,
    })
}

fn healthcheck(rest: &str, words: Words) -> Result<Kind, String> {
    let (flags, rest) = flags(
        rest,
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        words,
    )?;
    let (kind, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if kind.eq_ignore_ascii_case("none") {
        if !flags.is_empty() || !args.trim().is_empty() {
            return Err("HEALTHCHECK NONE takes no flags or arguments".into());
        }
        return Ok(Kind::Healthcheck(Healthcheck::None));
    }
    if !kind.eq_ignore_ascii_case("cmd") {
        return Err(format!(
            "HEALTHCHECK: unknown type {kind:?}: expected CMD or NONE"
        ));
    }
    Ok(Kind::Healthcheck(Healthcheck::Check {
        flags,
        command: command("HEALTHCHECK CMD", args.trim())?,
    }))
}

fn onbuild(rest: &str, line: usize, words: Words) -> Result<Kind, String> {
    let keyword = rest.split_whitespace().next().unwrap_or("");
    let upper = keyword.to_ascii_uppercase();
    match upper.as_str() {
        "" => return Err("ONBUILD requires an instruction".into()),
        "ONBUILD" => return Err("chaining ONBUILD via ONBUILD ONBUILD isn't allowed".into()),
        "FROM" | "MAINTAINER" => {
            return Err(format!("{upper} isn't allowed as an ONBUILD trigger"));
        }
        _ => {}
    }
    let inner = parse(rest, Vec::new(), line, words)?;
    Ok(Kind::Onbuild {
        text: rest.to_string(),
        inner: Box::new(inner.kind),
    })
}

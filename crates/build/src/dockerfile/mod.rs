//! The Dockerfile parser: every instruction, shell and exec (JSON) forms, line
//! continuations, the `# escape=` / `# syntax=` directives, comments, here-documents, and
//! Docker's word expansion ([`Words`]) for the arguments that take variables.
//!
//! Parsing keeps arguments as written (quotes included where Docker expands later), so the
//! builder expands them with the ARG and ENV values in scope at each step. Every error names
//! the file and line.

mod instruction;
mod lines;
mod words;

use std::fmt;

pub use instruction::{
    AddCopy, ArgDecl, Command, Flag, Healthcheck, Instruction, Kind, Run, Stage,
};
pub use lines::Directives;
pub use words::{Lookup, WordError, Words};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// `ARG`s before the first `FROM`: usable in `FROM` lines, and in a stage after an
    /// `ARG name` without a value there.
    pub global_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
}

/// A here-document: `<<EOF` ... `EOF` after a `RUN`, `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// The body, each line ending in `\n`.
    pub content: String,
    /// False when the opener's name was quoted (`<<'EOF'`): no `$` expansion of the body.
    pub expand: bool,
    /// `<<-EOF`: leading tabs were stripped from the body and the terminator.
    pub strip_tabs: bool,
}

/// A syntax error, naming the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl Dockerfile {
    /// Parses `src`; `file` names it in errors (e.g. `Dockerfile` or its path).
    pub fn parse(file: &str, src: &str) -> Result<Dockerfile, ParseError> {
        let (directives, logical) = lines::logical_lines(file, src)?;
        let words = Words {
            escape: directives.escape,
        };
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for l in logical {
            let err = |message: String| ParseError {
                file: file.to_string(),
                line: l.line,
                message,
            };
            let ins = instruction::parse(&l.text, l.heredocs, l.line, words).map_err(err)?;
            match (ins.kind, stages.last_mut()) {
                (Kind::From(stage), _) => stages.push(*stage),
                (Kind::Arg(args), None) => global_args.extend(args),
                (kind, None) => {
                    return Err(err(format!(
                        "{} before the first FROM: only ARG may come before FROM",
                        kind.keyword()
                    )));
                }
                (kind, Some(stage)) => stage.instructions.push(Instruction {
                    line: ins.line,
                    text: ins.text,
                    kind,
                }),
            }
        }
        if stages.is_empty() {
            return Err(ParseError {
                file: file.to_string(),
                line: 1,
                message: "no build stage: the Dockerfile has no FROM".into(),
            });
        }
        Ok(Dockerfile {
            directives,
            global_args,
            stages,
        })
    }

    /// The word expander for this file's escape character.
    pub fn words(&self) -> Words {
        Words {
            escape: self.directives.escape,
        }
    }

    /// The stage named `name` (case-insensitive, as Docker matches them) or at that index.
    pub fn stage(&self, name: &str) -> Option<(usize, &Stage)> {
        let by_name = self.stages.iter().enumerate().find(|(_, s)| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        by_name.or_else(|| {
            let i: usize = name.parse().ok()?;
            self.stages.get(i).map(|s| (i, s))
        })
    }
}

#[cfg(test)]
mod tests;

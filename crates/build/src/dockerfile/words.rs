//! Word expansion as Docker's builder does it for instruction arguments: quotes removed,
//! the escape character honored, `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
//! `${VAR:+word}`, `${VAR+word}`, `${VAR:?message}` and `${VAR?message}` substituted.
//! Unset variables expand to nothing. Unlike a shell, no command substitution, globbing or
//! tilde expansion happens.

/// Looks a variable up: the build args and ENV in scope at that instruction.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordError {
    #[error("unterminated {0} quote")]
    Unterminated(&'static str),
    #[error("bad substitution: {0}")]
    BadSubstitution(String),
    /// `${VAR:?message}` with VAR unset (or empty).
    #[error("{name}: {message}")]
    Required { name: String, message: String },
}

/// One word being built, and where the word boundaries fell (when splitting).
struct Out {
    words: Vec<String>,
    current: String,
    /// Whether `current` is a word even if empty (it had quotes, e.g. `""`).
    started: bool,
}

impl Out {
    fn new() -> Self {
        Out {
            words: Vec::new(),
            current: String::new(),
            started: false,
        }
    }

    fn push(&mut self, c: char) {
        self.current.push(c);
        self.started = true;
    }

    fn push_str(&mut self, s: &str) {
        self.current.push_str(s);
        self.started = true;
    }

    fn boundary(&mut self) {
        if self.started {
            self.words.push(std::mem::take(&mut self.current));
            self.started = false;
        }
    }

    /// An unquoted substitution's value: its whitespace splits words when splitting.
    fn push_unquoted(&mut self, s: &str, split: bool) {
        if !split {
            return self.push_str(s);
        }
        for (i, part) in s.split([' ', '\t', '\n']).enumerate() {
            if i > 0 {
                self.boundary();
            }
            if !part.is_empty() {
                self.push_str(part);
            }
        }
    }
}

/// The expander for one Dockerfile (its escape character).
#[derive(Debug, Clone, Copy)]
pub struct Words {
    pub escape: char,
}

impl Default for Words {
    fn default() -> Self {
        Words { escape: '\\' }
    }
}

impl Words {
    /// Expands `text` as one word (whitespace kept).
    pub fn expand(&self, text: &str, env: Lookup<'_>) -> Result<String, WordError> {
        let mut out = Out::new();
        let mut p = Parser {
            chars: text.chars().collect(),
            i: 0,
            escape: self.escape,
            env,
        };
        p.run(&mut out, None, false)?;
        Ok(out.current)
    }

    /// Expands `text` and splits it into words at unquoted whitespace, including whitespace
    /// that an unquoted substitution brought in.
    pub fn split(&self, text: &str, env: Lookup<'_>) -> Result<Vec<String>, WordError> {
        let mut out = Out::new();
        let mut p = Parser {
            chars: text.chars().collect(),
            i: 0,
            escape: self.escape,
            env,
        };
        p.run(&mut out, None, true)?;
        out.boundary();
        Ok(out.words)
    }

    /// Splits `text` at unquoted whitespace without expanding anything: quotes and escapes
    /// stay in the words (as `ENV`/`LABEL` keep them until their values are expanded).
    pub fn split_raw(&self, text: &str) -> Result<Vec<String>, WordError> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut chars = text.chars().peekable();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match quote {
                Some(q) => {
                    cur.push(c);
                    if c == self.escape && q == '"' {
                        if let Some(n) = chars.next() {
                            cur.push(n);
                        }
                    } else if c == q {
                        quote = None;
                    }
                }
                None if c.is_whitespace() => {
                    if !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                }
                None => {
                    cur.push(c);
                    if c == self.escape {
                        if let Some(n) = chars.next() {
                            cur.push(n);
                        }
                    } else if c == '"' || c == '\'' {
                        quote = Some(c);
                    }
                }
            }
        }
        match quote {
            Some('\'') => return Err(WordError::Unterminated("single")),
            Some(_) => return Err(WordError::Unterminated("double")),
            None => {}
        }
        if !cur.is_empty() {
            words.push(cur);
        }
        Ok(words)
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    i: usize,
    escape: char,
    env: Lookup<'a>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    /// Processes until `stop` (consumed) or the end.
    fn run(&mut self, out: &mut Out, stop: Option<char>, split: bool) -> Result<(), WordError> {
        while let Some(c) = self.next() {
            if Some(c) == stop {
                return Ok(());
            }
            match c {
                '\'' => self.single_quoted(out)?,
                '"' => self.double_quoted(out)?,
                '$' => {
                    let value = self.dollar()?;
                    match value {
                        Some(v) => out.push_unquoted(&v, split),
                        None => out.push('$'),
                    }
                }
                c if c == self.escape => match self.next() {
                    Some(n) => out.push(n),
                    None => out.push(c),
                },
                c if split && c.is_whitespace() => out.boundary(),
                c => out.push(c),
            }
        }
        match stop {
            Some(_) => Err(WordError::BadSubstitution("missing '}'".into())),
            None => Ok(()),
        }
    }

    fn single_quoted(&mut self, out: &mut Out) -> Result<(), WordError> {
        out.started = true;
        loop {
            match self.next() {
                Some('\'') => return Ok(()),
                Some(c) => out.push(c),
                None => return Err(WordError::Unterminated("single")),
            }
        }
    }

    fn double_quoted(&mut self, out: &mut Out) -> Result<(), WordError> {
        out.started = true;
        loop {
            match self.next() {
                Some('"') => return Ok(()),
                Some('$') => match self.dollar()? {
                    Some(v) => out.push_str(&v),
                    None => out.push('$'),
                },
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.i += 1;
                        out.push(n);
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
                None => return Err(WordError::Unterminated("double")),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            name.push(c);
            self.i += 1;
        }
        name
    }

    /// After a `$`: the substituted value, or None when the `$` is literal.
    fn dollar(&mut self) -> Result<Option<String>, WordError> {
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok(None);
            }
            return Ok(Some((self.env)(&name).unwrap_or_default()));
        }
        self.i += 1;
        let name = self.name();
        if name.is_empty() {
            return Err(WordError::BadSubstitution(format!(
                "a name must follow '${{' (at {:?})",
                self.peek().map(String::from).unwrap_or_default()
            )));
        }
        let value = (self.env)(&name);
        let colon = self.peek() == Some(':');
        if colon {
            self.i += 1;
        }
        let op = self.next();
        if op == Some('}') && !colon {
            return Ok(Some(value.unwrap_or_default()));
        }
        let Some(op @ ('-' | '+' | '?')) = op else {
            return Err(WordError::BadSubstitution(format!(
                "unsupported modifier {:?} in ${{{name}...}}",
                op.map(String::from).unwrap_or_default()
            )));
        };
        let mut word = Out::new();
        self.run(&mut word, Some('}'), false)?;
        let word = word.current;
        // With the colon, an empty value counts as unset.
        let set = value.as_deref().is_some_and(|v| !colon || !v.is_empty());
        Ok(Some(match op {
            '-' => {
                if set {
                    value.unwrap_or_default()
                } else {
                    word
                }
            }
            '+' => {
                if set {
                    word
                } else {
                    String::new()
                }
            }
            _ => {
                if !set {
                    let message = if word.is_empty() {
                        "is not set".to_string()
                    } else {
                        word
                    };
                    return Err(WordError::Required { name, message });
                }
                value.unwrap_or_default()
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("one two".into()),
            _ => None,
        }
    }

    fn x(s: &str) -> String {
        Words::default().expand(s, &env).unwrap()
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(x("$A"), "alpha");
        assert_eq!(x("${A}b"), "alphab");
        assert_eq!(x("$Ab"), "");
        assert_eq!(x("x$NOPE.y"), "x.y");
        assert_eq!(x("cost $"), "cost $");
        assert_eq!(x("$-x"), "$-x");
    }

    #[test]
    fn modifiers() {
        assert_eq!(x("${NOPE:-d}"), "d");
        assert_eq!(x("${EMPTY:-d}"), "d");
        assert_eq!(x("${EMPTY-d}"), "");
        assert_eq!(x("${A:-d}"), "alpha");
        assert_eq!(x("${A:+set}"), "set");
        assert_eq!(x("${EMPTY:+set}"), "");
        assert_eq!(x("${EMPTY+set}"), "set");
        assert_eq!(x("${NOPE+set}"), "");
        assert_eq!(x("${NOPE:-${A}-x}"), "alpha-x");
        assert_eq!(x("${NOPE:-'q}'}"), "q}");
        let e = Words::default().expand("${NOPE:?need it}", &env);
        assert_eq!(
            e,
            Err(WordError::Required {
                name: "NOPE".into(),
                message: "need it".into()
            })
        );
        assert!(Words::default().expand("${A", &env).is_err());
        assert!(Words::default().expand("${}", &env).is_err());
        assert!(Words::default().expand("${A/x/y}", &env).is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x(r#"'$A'"#), "$A");
        assert_eq!(x(r#""$A b""#), "alpha b");
        assert_eq!(x(r#"\$A"#), "$A");
        assert_eq!(x(r#""\$A \"q\" \\ \n""#), r#"$A "q" \ \n"#);
        assert_eq!(x(r"a\ b"), "a b");
        let tick = Words { escape: '`' };
        assert_eq!(tick.expand(r"C:\dir`$A", &env).unwrap(), r"C:\dir$A");
        assert_eq!(
            Words::default().expand("'open", &env),
            Err(WordError::Unterminated("single"))
        );
    }

    #[test]
    fn splitting() {
        let w = Words::default();
        assert_eq!(w.split("a  b\tc", &env).unwrap(), ["a", "b", "c"]);
        assert_eq!(w.split("$SP x", &env).unwrap(), ["one", "two", "x"]);
        assert_eq!(w.split("\"$SP\" x", &env).unwrap(), ["one two", "x"]);
        assert_eq!(w.split("'' x", &env).unwrap(), ["", "x"]);
        assert_eq!(w.split("$NOPE x", &env).unwrap(), ["x"]);
        assert_eq!(
            w.split_raw(r#"a="b c" d=e\ f 'g h'"#).unwrap(),
            [r#"a="b c""#, r"d=e\ f", "'g h'"]
        );
    }
}

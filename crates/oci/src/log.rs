//! Errors to stderr and, with `--log`, to a file in runc's format: callers such as podman
//! read the last line of that file to tell the user why the runtime failed.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::LogFormat;

pub struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    pub fn new(file: Option<PathBuf>, format: LogFormat) -> Logger {
        Logger { file, format }
    }

    pub fn error(&self, msg: &str) {
        eprintln!("compose-oci: {msg}");
        let Some(path) = &self.file else { return };
        let line = self.line(msg);
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = r {
            eprintln!("compose-oci: writing the log {}: {e}", path.display());
        }
    }

    fn line(&self, msg: &str) -> String {
        let time = crate::time::rfc3339_now();
        match self.format {
            LogFormat::Json => {
                let v = serde_json::json!({"level": "error", "msg": msg, "time": time});
                format!("{v}\n")
            }
            LogFormat::Text => format!("time={time:?} level=error msg={msg:?}\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_the_message() -> anyhow::Result<()> {
        let l = Logger::new(None, LogFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&l.line("boom \"x\""))?;
        assert_eq!(v["msg"], "boom \"x\"");
        assert_eq!(v["level"], "error");
        Ok(())
    }
}

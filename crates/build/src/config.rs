//! The image config a stage builds up, instruction by instruction, as Docker's builder does:
//! ENV, ARG scoping, WORKDIR, USER, CMD/ENTRYPOINT (an ENTRYPOINT resets a CMD inherited
//! from the base), SHELL, EXPOSE, VOLUME, LABEL, HEALTHCHECK, STOPSIGNAL, ONBUILD; and the
//! history entry of each step.
//!
//! The config is kept as Docker writes it (`config` with `Env`, `Cmd`, `Healthcheck` ...),
//! unknown fields of the base image preserved.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dockerfile::{ArgDecl, Command, Healthcheck, Kind, WordError, Words};

/// Why an instruction could not be applied to the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Word(#[from] WordError),
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, ConfigError>;

/// The `config` object of an image config (the runtime part), with Docker's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Docker's `Healthcheck` (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a stage knows while it runs: the config so far and the variables in scope.
#[derive(Debug, Clone)]
pub struct StageState {
    pub config: RunConfig,
    /// ARGs declared in this stage, with their values (the build-arg, else the default).
    pub args: Vec<(String, Option<String>)>,
    /// Whether this stage set CMD (then ENTRYPOINT keeps it).
    cmd_set: bool,
    /// The history entry of the last step.
    pub last_history: Option<String>,
    words: Words,
}

/// The shell Docker uses when no SHELL was given.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

impl StageState {
    /// A stage starting from a base image's config.
    pub fn new(base: RunConfig, words: Words) -> StageState {
        StageState {
            config: base,
            args: Vec::new(),
            cmd_set: false,
            last_history: None,
            words,
        }
    }

    /// A variable as an instruction sees it: ENV wins over ARG (Docker's rule).
    pub fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.env_value(name) {
            return Some(v);
        }
        self.args
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    }

    fn env_value(&self, name: &str) -> Option<String> {
        self.config.env.as_ref()?.iter().rev().find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| v.to_string())
        })
    }

    /// Expands one word with the variables in scope.
    pub fn expand(&self, text: &str) -> Result<String> {
        Ok(self.words.expand(text, &|n| self.lookup(n))?)
    }

    /// Expands and splits into words.
    pub fn expand_words(&self, text: &str) -> Result<Vec<String>> {
        Ok(self.words.split(text, &|n| self.lookup(n))?)
    }

    /// The environment a RUN step gets: the config's Env plus the ARGs in scope that ENV
    /// does not override.
    pub fn run_env(&self) -> Vec<String> {
        let mut env = self.config.env.clone().unwrap_or_default();
        for (name, value) in &self.args {
            if let Some(v) = value
                && self.env_value(name).is_none()
            {
                env.push(format!("{name}={v}"));
            }
        }
        env
    }

    /// The command line of a RUN, CMD or ENTRYPOINT in its form.
    pub fn command_line(&self, cmd: &Command) -> Vec<String> {
        match cmd {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = self
                    .config
                    .shell
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect());
                v.push(s.clone());
                v
            }
        }
    }

    /// Declares ARGs: `build_args` gives values from the command line, `global` the values
    /// of the ARGs before FROM (an `ARG NAME` without default in the stage takes it).
    pub fn declare_args(
        &mut self,
        decls: &[ArgDecl],
        build_args: &BTreeMap<String, String>,
        global: &[(String, Option<String>)],
    ) -> Result<()> {
        for d in decls {
            let value = match (build_args.get(&d.name), &d.default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(def)) => Some(self.expand(def)?),
                (None, None) => global
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == d.name)
                    .and_then(|(_, v)| v.clone()),
            };
            self.args.push((d.name.clone(), value));
        }
        Ok(())
    }

    /// Applies an instruction that changes only the config. Returns false for the ones
    /// that change the filesystem (RUN, COPY, ADD) or need the caller (ARG, FROM),
    /// which this leaves alone. WORKDIR is applied here; making the dir is the caller's.
    pub fn apply(&mut self, kind: &Kind) -> Result<bool> {
        let history = match kind {
            Kind::Env(pairs) => {
                // Every value sees the variables as they were before this instruction
                // (`ENV a=bye b=$a` gives b the old a), as Docker does.
                let expanded = pairs
                    .iter()
                    .map(|(k, v)| Ok((self.expand(k)?, self.expand(v)?)))
                    .collect::<Result<Vec<_>>>()?;
                let mut shown = Vec::new();
                for (k, v) in expanded {
                    shown.push(format!("{k}={v}"));
                    self.set_env(&k, &v);
                }
                format!("ENV {}", shown.join(" "))
            }
            Kind::Label(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let k = self.expand(k)?;
                    let v = self.expand(v)?;
                    shown.push(format!("{k}={v}"));
                    self.config.labels.get_or_insert_default().insert(k, v);
                }
                format!("LABEL {}", shown.join(" "))
            }
            Kind::Workdir(dir) => {
                let dir = self.expand(dir)?;
                let joined = join_workdir(self.config.working_dir.as_deref(), &dir);
                self.config.working_dir = Some(joined.clone());
                format!("WORKDIR {joined}")
            }
            Kind::User(u) => {
                let u = self.expand(u)?;
                self.config.user = Some(u.clone());
                format!("USER {u}")
            }
            Kind::Cmd(c) => {
                self.config.cmd = Some(self.command_line(c));
                self.cmd_set = true;
                format!("CMD {}", json(&self.command_line(c)))
            }
            Kind::Entrypoint(c) => {
                self.config.entrypoint = Some(self.command_line(c));
                if !self.cmd_set {
                    self.config.cmd = None;
                }
                format!("ENTRYPOINT {}", json(&self.command_line(c)))
            }
            Kind::Shell(v) => {
                self.config.shell = Some(v.clone());
                format!("SHELL {}", json(v))
            }
            Kind::Expose(words) => {
                let mut ports = Vec::new();
                for w in words {
                    for p in self.expand_words(w)? {
                        ports.extend(expose_ports(&p)?);
                    }
                }
                for p in &ports {
                    self.config
                        .exposed_ports
                        .get_or_insert_default()
                        .insert(p.clone(), Value::Object(Map::new()));
                }
                format!("EXPOSE map[{}]", ports.join(" "))
            }
            Kind::Volume(words) => {
                let mut vols = Vec::new();
                for w in words {
                    let v = self.expand(w)?;
                    if v.trim().is_empty() {
                        return Err(ConfigError::Invalid("VOLUME with an empty path".into()));
                    }
                    vols.push(v);
                }
                for v in &vols {
                    self.config
                        .volumes
                        .get_or_insert_default()
                        .insert(v.clone(), Value::Object(Map::new()));
                }
                format!("VOLUME {}", json(&vols))
            }
            Kind::StopSignal(s) => {
                let s = self.expand(s)?;
                self.config.stop_signal = Some(s.clone());
                format!("STOPSIGNAL {s}")
            }
            Kind::Healthcheck(h) => {
                self.config.healthcheck = Some(self.health(h)?);
                "HEALTHCHECK".to_string()
            }
            Kind::Onbuild { text, .. } => {
                self.config
                    .on_build
                    .get_or_insert_default()
                    .push(text.clone());
                format!("ONBUILD {text}")
            }
            Kind::Maintainer(m) => {
                self.config
                    .other
                    .insert("Author".into(), Value::String(m.clone()));
                format!("MAINTAINER {m}")
            }
            Kind::Run(_) | Kind::Copy(_) | Kind::Add(_) | Kind::Arg(_) | Kind::From(_) => {
                return Ok(false);
            }
        };
        self.last_history = Some(history);
        Ok(true)
    }

    fn set_env(&mut self, key: &str, value: &str) {
        let env = self.config.env.get_or_insert_default();
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
    }

    fn health(&self, h: &Healthcheck) -> Result<HealthConfig> {
        let (flags, command) = match h {
            Healthcheck::None => {
                return Ok(HealthConfig {
                    test: vec!["NONE".into()],
                    ..HealthConfig::default()
                });
            }
            Healthcheck::Check { flags, command } => (flags, command),
        };
        let test = match command {
            Command::Exec(v) => std::iter::once("CMD".to_string())
                .chain(v.clone())
                .collect(),
            Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
        };
        let mut hc = HealthConfig {
            test,
            ..HealthConfig::default()
        };
        for f in flags {
            let value = f.value.as_deref().unwrap_or("");
            let field = match f.name.as_str() {
                "interval" => &mut hc.interval,
                "timeout" => &mut hc.timeout,
                "start-period" => &mut hc.start_period,
                "start-interval" => &mut hc.start_interval,
                _ => {
                    hc.retries = value.parse().map_err(|_| {
                        ConfigError::Invalid(format!("HEALTHCHECK --retries={value}: not a number"))
                    })?;
                    continue;
                }
            };
            let d = parse_duration(value).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "HEALTHCHECK --{}={value}: not a duration (e.g. 30s, 1m30s)",
                    f.name
                ))
            })?;
            *field = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        }
        Ok(hc)
    }
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// WORKDIR: absolute paths replace, relative ones join the current dir; cleaned.
pub fn join_workdir(current: Option<&str>, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{}/{dir}", current.unwrap_or("/"))
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `80`, `80/udp`, `8000-8002/tcp` as Docker's `ExposedPorts` keys.
fn expose_ports(spec: &str) -> Result<Vec<String>> {
    let bad = || ConfigError::Invalid(format!("EXPOSE {spec}: not a port, range or port/proto"));
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(bad());
    }
    let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if lo == 0 || hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Go-style durations as Docker takes them: `1h2m3.5s`, `500ms`, `10us`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    // Go's rules, as the Compose loader reads them; a negative span is no span.
    let d = compose::model::units::Duration::parse(s).ok()?;
    (d.nanos() >= 0).then(|| d.as_std())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::Dockerfile;

    fn run(src: &str, base: RunConfig, build_args: &[(&str, &str)]) -> StageState {
        let d = Dockerfile::parse("Dockerfile", src).unwrap();
        let mut st = StageState::new(base, d.words());
        let args: BTreeMap<String, String> = build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let global: Vec<(String, Option<String>)> = d
            .global_args
            .iter()
            .map(|a| {
                (
                    a.name.clone(),
                    args.get(&a.name).cloned().or(a.default.clone()),
                )
            })
            .collect();
        for ins in &d.stages[0].instructions {
            match &ins.kind {
                Kind::Arg(decls) => st.declare_args(decls, &args, &global).unwrap(),
                k => {
                    st.apply(k).unwrap();
                }
            }
        }
        st
    }

    #[test]
    fn env_and_args_scope() {
        let st = run(
            "ARG G=global\nFROM x\nARG G\nARG A=a1\nARG B\nENV E=\"$A-$G\" A=fromenv\nENV F=$A\n",
            RunConfig {
                env: Some(vec!["PATH=/bin".into()]),
                ..RunConfig::default()
            },
            &[("B", "cli")],
        );
        let env = st.config.env.clone().unwrap();
        assert_eq!(env, ["PATH=/bin", "E=a1-global", "A=fromenv", "F=fromenv"]);
        let run_env = st.run_env();
        assert!(run_env.contains(&"B=cli".to_string()));
        assert!(run_env.contains(&"G=global".to_string()));
        assert!(
            !run_env.contains(&"A=a1".to_string()),
            "ENV overrides the ARG"
        );
        let st = run(
            "FROM x\nENV abc=hello\nENV abc=bye def=$abc\n",
            RunConfig::default(),
            &[],
        );
        assert_eq!(st.config.env.unwrap(), ["abc=bye", "def=hello"]);
    }

    #[test]
    fn cmd_entrypoint_shell_and_workdir() {
        let base = RunConfig {
            cmd: Some(vec!["base".into()]),
            working_dir: Some("/srv".into()),
            ..RunConfig::default()
        };
        let st = run(
            "FROM x\nENTRYPOINT [\"/e\"]\nWORKDIR app\nWORKDIR ../other/./x\n",
            base.clone(),
            &[],
        );
        assert_eq!(st.config.cmd, None, "ENTRYPOINT resets an inherited CMD");
        assert_eq!(st.config.working_dir.as_deref(), Some("/srv/other/x"));
        let st = run(
            "FROM x\nSHELL [\"/bin/bash\", \"-xc\"]\nCMD echo hi\nENTRYPOINT run.sh\n",
            base,
            &[],
        );
        assert_eq!(
            st.config.cmd.unwrap(),
            ["/bin/bash", "-xc", "echo hi"],
            "a CMD of this stage stays"
        );
        assert_eq!(
            st.config.entrypoint.unwrap(),
            ["/bin/bash", "-xc", "run.sh"]
        );
    }

    #[test]
    fn expose_volume_label_health_stopsignal() {
        let st = run(
            "FROM x\nARG P=8080\nEXPOSE $P 53/udp 9000-9001\nVOLUME /data \"/with space\"\nLABEL \"a b\"=\"c d\" v=$P\nHEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD wget -q -O- localhost\nSTOPSIGNAL SIGQUIT\nONBUILD RUN echo hi\n",
            RunConfig::default(),
            &[],
        );
        let c = &st.config;
        let ports: Vec<_> = c.exposed_ports.as_ref().unwrap().keys().cloned().collect();
        assert_eq!(ports, ["53/udp", "8080/tcp", "9000/tcp", "9001/tcp"]);
        let vols: Vec<_> = c.volumes.as_ref().unwrap().keys().cloned().collect();
        assert_eq!(vols, ["/data", "/with space"]);
        let labels = c.labels.as_ref().unwrap();
        assert_eq!(labels["a b"], "c d");
        assert_eq!(labels["v"], "8080");
        let hc = c.healthcheck.as_ref().unwrap();
        assert_eq!(hc.test, ["CMD-SHELL", "wget -q -O- localhost"]);
        assert_eq!(hc.interval, 90_000_000_000);
        assert_eq!(hc.timeout, 500_000_000);
        assert_eq!(hc.retries, 3);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.on_build.as_ref().unwrap(), &["RUN echo hi"]);
        // Docker's JSON field names.
        let j = serde_json::to_value(c).unwrap();
        assert!(j["Healthcheck"]["Interval"].is_u64());
        assert!(j["ExposedPorts"]["8080/tcp"].is_object());
    }

    #[test]
    fn bad_values_are_errors() {
        let d = Dockerfile::parse("Dockerfile", "FROM x\nEXPOSE 70000\n").unwrap();
        let mut st = StageState::new(RunConfig::default(), d.words());
        let e = st.apply(&d.stages[0].instructions[0].kind).unwrap_err();
        assert!(e.to_string().contains("EXPOSE 70000"));
        assert!(parse_duration("1x").is_none());
        assert_eq!(
            parse_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
    }

    #[test]
    fn unknown_base_fields_survive() {
        let base: RunConfig =
            serde_json::from_str(r#"{"Env":["A=1"],"ArgsEscaped":true,"Custom":{"x":1}}"#).unwrap();
        let j = serde_json::to_value(&base).unwrap();
        assert_eq!(j["Custom"]["x"], 1);
        assert_eq!(j["ArgsEscaped"], true);
    }
}

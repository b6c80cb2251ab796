//! Build progress as Docker prints it. `plain`: numbered lines, `#3 [web 2/4] RUN ...`,
//! then the step's output lines, then `#3 DONE 0.4s` or `#3 CACHED`. `tty`: one line per
//! step (`=> [web 2/4] RUN ...`) with the last lines of its output under it while it runs,
//! collapsed to the step line and its time when it is done; a failing step keeps its
//! output on screen. `quiet`: nothing.

use std::io::Write;
use std::time::Instant;

use crate::build::StepEvent;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Quiet,
}

/// Lines of a running step's output kept on a terminal.
const TAIL: usize = 6;

/// Prints the events of one build (`label`: its services) to `out`.
pub struct Printer<W: Write> {
    mode: Mode,
    out: W,
    label: String,
    n: usize,
    current: Option<Live>,
}

/// The step being shown.
struct Live {
    step: String,
    started: Instant,
    tail: Vec<String>,
    /// Output lines drawn under the step line (tty).
    drawn: usize,
}

impl<W: Write> Printer<W> {
    pub fn new(mode: Mode, out: W, label: &str) -> Printer<W> {
        Printer {
            mode,
            out,
            label: label.to_string(),
            n: 0,
            current: None,
        }
    }

    /// Shows one event. Write errors (a closed terminal) are not the build's failure.
    pub fn event(&mut self, e: &StepEvent) {
        let _ = match self.mode {
            Mode::Quiet => Ok(()),
            Mode::Plain => self.plain(e),
            Mode::Tty => self.tty(e),
        };
        let _ = self.out.flush();
    }

    /// `[web 2/4] RUN x` from the builder's `[2/4] RUN x`, or `[web build 2/4]`.
    fn titled(&self, step: &str) -> String {
        match step.strip_prefix('[') {
            Some(rest) if !self.label.is_empty() => format!("[{} {rest}", self.label),
            _ => step.to_string(),
        }
    }

    fn plain(&mut self, e: &StepEvent) -> std::io::Result<()> {
        match e {
            StepEvent::Start { step } => {
                self.n += 1;
                self.current = Some(Live::new(step));
                let title = self.titled(step);
                writeln!(self.out, "#{} {title}", self.n)
            }
            StepEvent::Output { text, .. } => {
                let n = self.n;
                text.lines()
                    .try_for_each(|l| writeln!(self.out, "#{n} {l}"))
            }
            StepEvent::Cached { .. } => {
                self.current = None;
                writeln!(self.out, "#{} CACHED", self.n)
            }
            StepEvent::Done { .. } => {
                let secs = self.current.take().map_or(0.0, |l| l.secs());
                writeln!(self.out, "#{} DONE {secs:.1}s", self.n)
            }
        }
    }

    fn tty(&mut self, e: &StepEvent) -> std::io::Result<()> {
        match e {
            StepEvent::Start { step } => {
                let title = self.titled(step);
                self.current = Some(Live::new(step));
                writeln!(self.out, " => {title}")
            }
            StepEvent::Output { text, .. } => {
                let Some(live) = self.current.as_mut() else {
                    return Ok(());
                };
                erase(&mut self.out, live.drawn)?;
                live.tail.extend(text.lines().map(str::to_string));
                let skip = live.tail.len().saturating_sub(TAIL);
                live.tail.drain(..skip);
                for l in &live.tail {
                    // Dimmed, as a step's running output.
                    writeln!(self.out, "\x1b[2m => > {l}\x1b[0m")?;
                }
                live.drawn = live.tail.len();
                Ok(())
            }
            StepEvent::Cached { .. } | StepEvent::Done { .. } => {
                let Some(live) = self.current.take() else {
                    return Ok(());
                };
                // The step line and its output go; the step line comes back, finished.
                erase(&mut self.out, live.drawn + 1)?;
                let title = self.titled(&live.step);
                if matches!(e, StepEvent::Cached { .. }) {
                    writeln!(self.out, " => CACHED {title}")
                } else {
                    writeln!(self.out, " => {title}  {:.1}s", live.secs())
                }
            }
        }
    }
}

impl Live {
    fn new(step: &str) -> Live {
        Live {
            step: step.to_string(),
            started: Instant::now(),
            tail: Vec::new(),
            drawn: 0,
        }
    }

    fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Moves up over the last `lines` lines and clears from there down.
fn erase(out: &mut impl Write, lines: usize) -> std::io::Result<()> {
    if lines == 0 {
        return Ok(());
    }
    write!(out, "\x1b[{lines}A\x1b[J")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<StepEvent> {
        let s = |t: &str| t.to_string();
        vec![
            StepEvent::Start {
                step: s("[1/3] FROM busybox"),
            },
            StepEvent::Done {
                step: s("[1/3] FROM busybox"),
            },
            StepEvent::Start {
                step: s("[2/3] COPY a /a"),
            },
            StepEvent::Cached {
                step: s("[2/3] COPY a /a"),
            },
            StepEvent::Start {
                step: s("[3/3] RUN make"),
            },
            StepEvent::Output {
                step: s("[3/3] RUN make"),
                text: s("one\ntwo\n"),
            },
            StepEvent::Done {
                step: s("[3/3] RUN make"),
            },
        ]
    }

    fn render(mode: Mode, events: &[StepEvent]) -> String {
        let mut p = Printer::new(mode, Vec::new(), "web");
        for e in events {
            p.event(e);
        }
        String::from_utf8(p.out).unwrap()
    }

    #[test]
    fn plain_numbers_steps_with_output_and_outcome() {
        let out = render(Mode::Plain, &events());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "#1 [web 1/3] FROM busybox");
        assert!(lines[1].starts_with("#1 DONE ") && lines[1].ends_with('s'));
        assert_eq!(lines[2], "#2 [web 2/3] COPY a /a");
        assert_eq!(lines[3], "#2 CACHED");
        assert_eq!(lines[4], "#3 [web 3/3] RUN make");
        assert_eq!(&lines[5..7], ["#3 one", "#3 two"]);
        assert!(lines[7].starts_with("#3 DONE "));
        assert_eq!(render(Mode::Quiet, &events()), "");
    }

    #[test]
    fn tty_shows_the_tail_then_collapses() {
        let all = events();
        let out = render(Mode::Tty, &all);
        // The RUN's output was drawn, then erased with its step line (3 lines up).
        assert!(out.contains("\x1b[2m => > one\x1b[0m\n\x1b[2m => > two\x1b[0m\n\x1b[3A\x1b[J"));
        assert!(out.contains(" => CACHED [web 2/3] COPY a /a\n"));
        let last = out.rsplit("\x1b[J").next().unwrap();
        assert!(
            last.starts_with(" => [web 3/3] RUN make  ") && last.ends_with("s\n"),
            "{last:?}"
        );

        // A failing step (no Done) keeps its output on screen.
        let out = render(Mode::Tty, &all[..6]);
        assert!(
            out.ends_with(
                " => [web 3/3] RUN make\n\x1b[2m => > one\x1b[0m\n\x1b[2m => > two\x1b[0m\n"
            ),
            "{out:?}"
        );

        // Only the last lines stay under a long-running step.
        let mut long = vec![all[4].clone()];
        long.push(StepEvent::Output {
            step: "[3/3] RUN make".into(),
            text: (1..=10).map(|i| format!("l{i}\n")).collect(),
        });
        let out = render(Mode::Tty, &long);
        assert!(
            !out.contains("l4\x1b") && out.contains("l5\x1b") && out.contains("l10\x1b"),
            "{out:?}"
        );
    }
}

//! The `command` kind: any shell command as a cached stage.
//!
//! `sh -c RUN` runs with its working directory and `$OUT` set to the output directory, and
//! `$SCRATCH` set to the scratch directory of the key (kept across failed attempts). Each input
//! gets one `IN_<NAME>` variable: the input name upper-cased, with characters other than
//! letters and digits written `_`. A wildcard input lists its paths one per line.
//!
//! Standard output and standard error go to the stage's log file. A nonzero exit, or running
//! past `timeout_s`, fails the stage with the tail of standard error.

use std::collections::{BTreeMap, VecDeque};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dag::{InputSpec, StageContext, StageKind};
use serde::{Deserialize, Serialize};

/// Lines of standard error kept for the failure message.
const STDERR_TAIL_LINES: usize = 20;

/// How often the child is polled for exit and for cancellation.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Params of a `command` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandParams {
    /// The shell command, run by `sh -c`.
    pub run: String,
    /// Extra environment variables (default: none). They are part of the stage key.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Seconds after which the command is killed and the stage fails (default: no limit).
    #[serde(default)]
    pub timeout_s: Option<f64>,
}

/// The `command` stage kind.
pub struct Command;

impl StageKind for Command {
    fn name(&self) -> &'static str {
        "command"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::COMMAND
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        dag::check_params::<CommandParams>(params)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        const INPUTS: &[InputSpec] = &[InputSpec::optional(InputSpec::ANY)];
        INPUTS
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: CommandParams = ctx.params()?;
        let scratch = ctx.scratch_dir()?;

        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(ctx.log_path())
            .with_context(|| format!("cannot open log file {}", ctx.log_path().display()))?;

        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(&params.run)
            .current_dir(ctx.out_dir())
            .env("OUT", ctx.out_dir())
            .env("SCRATCH", &scratch)
            .envs(&params.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(Stdio::piped())
            // Its own process group, so cancelling kills the shell's children too.
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2)
        // and getppid(2), which are async-signal-safe.
        let pipeline_pid = std::process::id();
        unsafe {
            command.pre_exec(move || {
                // The shell dies with this process, even when it is killed with SIGKILL and
                // cannot cancel. NOTE: the signal reaches the shell only; a command the shell
                // runs in the background survives a SIGKILL of `pipeline`.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if u32::try_from(libc::getppid()).ok() != Some(pipeline_pid) {
                    return Err(std::io::Error::other("the pipeline process has exited"));
                }
                Ok(())
            });
        }
        for (name, input) in ctx.inputs() {
            let paths: Vec<String> = input
                .entries()
                .iter()
                .map(|(_, path)| path.display().to_string())
                .collect();
            command.env(input_variable(name), paths.join("\n"));
        }

        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start `sh -c {}`", params.run))?;
        let stderr_tail = spawn_stderr_reader(&mut child, log);
        let waited = wait_or_cancel(&mut child, ctx, params.timeout_s)?;
        let tail = stderr_tail
            .join()
            .unwrap_or_default()
            .into_iter()
            .collect::<Vec<_>>()
            .join("\n");

        let status = match waited {
            Waited::Exited(status) => status,
            Waited::Cancelled => bail!("stage {} cancelled", ctx.stage()),
            Waited::TimedOut(seconds) => {
                bail!("command `{}` timed out after {seconds} s", params.run)
            }
        };
        if !status.success() {
            let code = status
                .code()
                .map_or_else(|| "a signal".to_string(), |code| format!("code {code}"));
            if tail.is_empty() {
                bail!("command `{}` exited with {code}", params.run);
            }
            bail!("command `{}` exited with {code}:\n{tail}", params.run);
        }
        Ok(())
    }
}

/// Returns the environment variable that carries input `name`: `IN_` and the name upper-cased.
pub fn input_variable(name: &str) -> String {
    let suffix: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("IN_{suffix}")
}

/// Copies the child's standard error into the log and returns its last lines when it closes.
fn spawn_stderr_reader(
    child: &mut Child,
    mut log: std::fs::File,
) -> std::thread::JoinHandle<VecDeque<String>> {
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut tail = VecDeque::with_capacity(STDERR_TAIL_LINES);
        let Some(stderr) = stderr else {
            return tail;
        };
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // The log is best effort: a full disk must not hide the command's own failure.
            let _ = writeln!(log, "{line}");
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        tail
    })
}

/// The way waiting for the child ended.
enum Waited {
    Exited(std::process::ExitStatus),
    Cancelled,
    TimedOut(f64),
}

/// Waits for the child, killing its process group if the stage is cancelled or times out.
fn wait_or_cancel(
    child: &mut Child,
    ctx: &StageContext,
    timeout_s: Option<f64>,
) -> anyhow::Result<Waited> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for the command")? {
            return Ok(Waited::Exited(status));
        }
        let timed_out = timeout_s.filter(|limit| started.elapsed().as_secs_f64() > *limit);
        if ctx.cancelled() || timed_out.is_some() {
            kill_process_group(child);
            child.wait().context("cannot wait for the command")?;
            return Ok(match timed_out {
                Some(limit) => Waited::TimedOut(limit),
                None => Waited::Cancelled,
            });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn kill_process_group(child: &Child) {
    let Ok(group) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the group the child leads; it touches no
    // memory of this process.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_variable_uppercases_name() {
        assert_eq!(input_variable("dataset"), "IN_DATASET");
        assert_eq!(input_variable("real-a.b"), "IN_REAL_A_B");
    }

    #[test]
    fn params_reject_unknown_key() {
        let error = Command
            .check_params(&serde_json::json!({"run": "true", "cmd": "x"}))
            .unwrap_err();
        assert!(error.contains("cmd"), "{error}");
    }

    #[test]
    fn params_fill_default_env() {
        let canonical = Command
            .check_params(&serde_json::json!({"run": "true"}))
            .unwrap();
        assert_eq!(
            canonical,
            serde_json::json!({"run": "true", "env": {}, "timeout_s": null})
        );
    }
}

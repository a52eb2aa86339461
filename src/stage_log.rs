//! Copies the tracing events a stage emits while it runs into that run's log file.
//!
//! The engine runs each stage inside a `stage_run` span whose `log` field is the path of the
//! run's log file. This layer remembers that path per span and appends every event inside such
//! a span (on the stage's own thread) to the file. Events from threads the stage spawns itself
//! carry no span and reach only standard error.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The layer; add it to a `tracing_subscriber::registry()`.
pub struct StageLogLayer;

/// The log file of a `stage_run` span, stored in its extensions.
struct LogFile(PathBuf);

/// Reads the `log` field of a span.
struct LogField(Option<String>);

impl Visit for LogField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "log" {
            self.0 = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log" {
            self.0 = Some(value.to_string());
        }
    }
}

/// Renders an event as `message key=value ...`.
#[derive(Default)]
struct EventText(String);

impl Visit for EventText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl<S> Layer<S> for StageLogLayer
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attributes.metadata().name() != "stage_run" {
            return;
        }
        let mut field = LogField(None);
        attributes.record(&mut field);
        if let (Some(path), Some(span)) = (field.0, ctx.span(id)) {
            span.extensions_mut().insert(LogFile(PathBuf::from(path)));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            let extensions = span.extensions();
            let Some(LogFile(path)) = extensions.get::<LogFile>() else {
                continue;
            };
            let mut text = EventText::default();
            event.record(&mut text);
            let seconds = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs_f64())
                .unwrap_or(0.0);
            let line = format!(
                "{seconds:.3} {} {}: {}\n",
                event.metadata().level(),
                event.metadata().target(),
                text.0
            );
            // Losing a log line must not fail the stage, so write errors are ignored.
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
            {
                let _ = file.write_all(line.as_bytes());
            }
            return;
        }
    }
}

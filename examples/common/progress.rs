//! Shows the library's `tracing` output on stderr: a spinner for each open
//! span (its name and fields, then the latest DEBUG event inside it, with the
//! time so far), and each INFO, WARN or ERROR event as a line of its own.
//! When stderr is not a terminal the spinners are hidden and only the lines
//! are written.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the display for the rest of the program: fundtrace's events down
/// to DEBUG (those only move the spinners), other crates' from INFO up.
pub fn install() {
    let layer = Spinners {
        multi: MultiProgress::new(),
        bars: Mutex::new(HashMap::new()),
    };
    let filter = Targets::new()
        .with_default(Level::INFO)
        .with_target("fundtrace", Level::DEBUG);
    // A second install (never done here) would be refused; nothing to do then.
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

struct Spinners {
    multi: MultiProgress,
    bars: Mutex<HashMap<u64, ProgressBar>>,
}

/// An event's or a span's fields as `message key=value …`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }
}

impl Spinners {
    fn line(&self, s: &str) {
        if self.multi.is_hidden() {
            eprintln!("{s}");
        } else {
            let _ = self.multi.println(s);
        }
    }
}

impl<S> Layer<S> for Spinners
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if self.multi.is_hidden() {
            return;
        }
        let mut fields = Text::default();
        attrs.record(&mut fields);
        let bar = self.multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix} {wide_msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_prefix(format!("{} {}", attrs.metadata().name(), fields.0));
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(id.into_u64(), bar);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut text = Text::default();
        event.record(&mut text);
        let level = *event.metadata().level();
        if level <= Level::INFO {
            let prefix = match level {
                Level::ERROR => "error: ",
                Level::WARN => "warning: ",
                _ => "  ",
            };
            self.line(&format!("{prefix}{}", text.0));
        } else if let Some(span) = ctx.event_span(event)
            && let Some(bar) = self
                .bars
                .lock()
                .ok()
                .and_then(|b| b.get(&span.id().into_u64()).cloned())
        {
            bar.set_message(text.0);
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        let bar = self
            .bars
            .lock()
            .ok()
            .and_then(|mut b| b.remove(&id.into_u64()));
        if let Some(bar) = bar {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

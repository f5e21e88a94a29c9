//! Progress bars on stderr (indicatif). Only the command layer knows about
//! indicatif; domain modules report through their own `Progress` traits.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Printer;

/// One spinner per item (cluster, region), hidden when progress is off.
pub(crate) struct Spinners {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    enabled: bool,
}

impl Spinners {
    pub(crate) fn new(printer: &Printer, items: &[String]) -> Self {
        let enabled = printer.progress_enabled();
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let width = items.iter().map(String::len).max().unwrap_or(0);
        let style =
            ProgressStyle::with_template(&format!("{{spinner}} {{prefix:<{width}}} {{wide_msg}}"))
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bars = items
            .iter()
            .map(|item| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(item.clone());
                bar.set_message("waiting");
                if enabled {
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
                (item.clone(), bar)
            })
            .collect();
        Spinners {
            multi,
            bars: Mutex::new(bars),
            enabled,
        }
    }

    pub(crate) fn set(&self, item: &str, message: &str) {
        if let Ok(bars) = self.bars.lock()
            && let Some(bar) = bars.get(item)
        {
            bar.set_message(message.to_owned());
        }
    }

    pub(crate) fn finish(&self, item: &str, message: &str) {
        if let Ok(bars) = self.bars.lock()
            && let Some(bar) = bars.get(item)
        {
            bar.finish_with_message(message.to_owned());
        }
    }

    /// Removes every bar (before the summary is printed).
    pub(crate) fn clear(&self) {
        if self.enabled {
            let _ = self.multi.clear();
        }
    }
}

impl crate::scan::Progress for Spinners {
    fn step(&self, cluster: &str, step: &str) {
        self.set(cluster, step);
    }
    fn finished(&self, cluster: &str, ok: bool) {
        self.finish(cluster, if ok { "done" } else { "failed" });
    }
}

impl crate::discover::Progress for Spinners {
    fn step(&self, region: &str, step: &str) {
        self.set(region, step);
    }
}

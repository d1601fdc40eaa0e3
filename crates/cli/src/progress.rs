//! Terminal progress bars for the core's progress callbacks. Hidden when
//! stderr is not a terminal (scripts, CI) or when printing JSON.

use chatkeep_core::ops::Progress;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug)]
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(message: &'static str, json: bool, bytes: bool) -> Bar {
        let bar = if json { ProgressBar::hidden() } else { ProgressBar::new(0) };
        let template = if bytes {
            "{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({eta})"
        } else {
            "{msg:>10} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta})"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message);
        Bar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }

    fn advance_to(&self, done: u64) {
        self.0.set_position(done);
    }
}

//! Terminal progress bars for long work (pages read or fetched, chunks embedded).
//! Hidden automatically when stderr is not a terminal or `--quiet` is given.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// An [`docent_ingest::IngestObserver`] drawing two bars on stderr.
pub struct IngestBars {
    multi: MultiProgress,
    pages: ProgressBar,
    chunks: ProgressBar,
}

impl IngestBars {
    /// Bars on stderr, or hidden ones when `visible` is false.
    pub fn new(visible: bool) -> Self {
        let target = if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let pages = multi.add(ProgressBar::new_spinner());
        pages.set_style(
            ProgressStyle::with_template("{spinner} pages  {pos:>6} {per_sec:>10} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pages.enable_steady_tick(Duration::from_millis(120));
        let chunks = multi.add(ProgressBar::new(0));
        chunks.set_style(
            ProgressStyle::with_template("  chunks {bar:30} {pos:>6}/{len:<6} {per_sec:>10} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        IngestBars { multi, pages, chunks }
    }

    /// Remove the bars before the summary is printed.
    pub fn finish(&self) {
        self.pages.finish_and_clear();
        self.chunks.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl docent_ingest::IngestObserver for IngestBars {
    fn page_seen(&self, url: &str) {
        self.pages.inc(1);
        self.pages.set_message(url.to_string());
    }
    fn chunks_queued(&self, n: usize) {
        self.chunks.inc_length(n as u64);
    }
    fn chunks_embedded(&self, n: usize) {
        self.chunks.inc(n as u64);
    }
}

//! The batch panel: a folder in, a folder out, the same engine and rules as `deblur batch`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::jobs::BatchMsg;

/// The outcome of one file in the list.
#[derive(Clone, Debug, PartialEq)]
pub enum FileState {
    Running,
    Done,
    Skipped(String),
    Failed(String),
}

/// The panel's view of the running or last batch.
#[derive(Default)]
pub struct BatchPanel {
    pub open: bool,
    pub running: bool,
    pub cancel: Option<Arc<AtomicBool>>,
    /// Files planned to run (skipped ones excluded).
    pub total: usize,
    pub finished: usize,
    /// Tiles of the current file.
    pub tile: (usize, usize),
    pub files: Vec<(String, FileState)>,
    pub summary: Option<String>,
    pub error: Option<String>,
    pub report_output: Option<PathBuf>,
}

impl BatchPanel {
    pub fn start(&mut self, cancel: Arc<AtomicBool>) {
        *self = BatchPanel {
            open: true,
            running: true,
            cancel: Some(cancel),
            ..Default::default()
        };
    }

    pub fn cancel(&self) {
        if let Some(c) = &self.cancel {
            c.store(true, Ordering::Relaxed);
        }
    }

    pub fn failures(&self) -> usize {
        self.files
            .iter()
            .filter(|(_, s)| matches!(s, FileState::Failed(_)))
            .count()
    }

    /// Files finished plus the current file's tile fraction, over all files.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            return if self.running { 0.0 } else { 1.0 };
        }
        let tile = if self.tile.1 > 0 {
            self.tile.0 as f32 / self.tile.1 as f32
        } else {
            0.0
        };
        ((self.finished as f32 + if self.running { tile } else { 0.0 }) / self.total as f32)
            .min(1.0)
    }

    pub fn apply(&mut self, msg: BatchMsg) {
        match msg {
            BatchMsg::Planned {
                total,
                skipped,
                failed,
            } => {
                self.total = total;
                self.files.extend(
                    skipped
                        .into_iter()
                        .map(|(f, why)| (f, FileState::Skipped(why))),
                );
                self.files
                    .extend(failed.into_iter().map(|(f, e)| (f, FileState::Failed(e))));
            }
            BatchMsg::Started { input, .. } => {
                self.tile = (0, 0);
                self.files.push((input, FileState::Running));
            }
            BatchMsg::Tile { done, total } => self.tile = (done, total),
            BatchMsg::Finished { input, error, .. } => {
                self.finished += 1;
                let state = match error {
                    None => FileState::Done,
                    Some(e) => FileState::Failed(e),
                };
                match self
                    .files
                    .iter_mut()
                    .rev()
                    .find(|(f, s)| *s == FileState::Running && input.ends_with(f.as_str()))
                {
                    Some(entry) => entry.1 = state,
                    None => self.files.push((input, state)),
                }
            }
            BatchMsg::Ended { report } => {
                self.running = false;
                for entry in &mut self.files {
                    if entry.1 == FileState::Running {
                        entry.1 = FileState::Skipped("cancelled".into());
                    }
                }
                self.summary = Some(format!(
                    "{} done, {} skipped, {} failed{} on {}",
                    report.done.len(),
                    report.skipped.len(),
                    report.failed.len(),
                    if report.cancelled { " (cancelled)" } else { "" },
                    report.device
                ));
            }
            BatchMsg::Failed { error } => {
                self.running = false;
                self.error = Some(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::batch::Report;

    #[test]
    fn panel_follows_a_batch_with_one_failure() {
        let mut p = BatchPanel::default();
        p.start(Arc::new(AtomicBool::new(false)));
        p.apply(BatchMsg::Planned {
            total: 2,
            skipped: vec![("old.png".into(), "output exists".into())],
            failed: vec![],
        });
        p.apply(BatchMsg::Started {
            index: 0,
            input: "a.png".into(),
        });
        p.apply(BatchMsg::Tile { done: 1, total: 2 });
        assert!((p.fraction() - 0.25).abs() < 1e-6);
        p.apply(BatchMsg::Finished {
            index: 0,
            input: "a.png".into(),
            error: None,
        });
        p.apply(BatchMsg::Started {
            index: 1,
            input: "broken.jpg".into(),
        });
        p.apply(BatchMsg::Finished {
            index: 1,
            input: "broken.jpg".into(),
            error: Some("not a JPEG".into()),
        });
        p.apply(BatchMsg::Ended {
            report: Box::new(Report::default()),
        });
        assert!(!p.running);
        assert_eq!(p.failures(), 1);
        assert_eq!(p.files.len(), 3);
        assert_eq!(p.files[1].1, FileState::Done);
        assert_eq!(p.fraction(), 1.0);
    }
}

//! Log lines captured in memory: the writer a test hands the service's log subscriber
//! (`service_kit::telemetry::init_with_writer`) to check what was, and was not, logged.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything written to it, shared by its clones.
#[derive(Clone, Debug, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// What was written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

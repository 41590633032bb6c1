//! The exporters' own thread and Tokio runtime.
//!
//! Implementation details: the SDK's async batch processors and the OTLP
//! clients (hyper, tonic) need a Tokio reactor, and the SDK's `shutdown` and
//! `force_flush` block the calling thread until the export task answers. Running
//! the exporters on a dedicated single-threaded runtime makes both safe from
//! any caller (sync `main`, a current-thread runtime, a worker thread), keeps
//! export work off the agent's runtime, and lets a stuck collector cost at most
//! the export timeout.

use std::{io, sync::mpsc, thread};

use tokio::{runtime::Handle, sync::oneshot};

/// A running export runtime; stops when dropped.
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
}

impl ExportRuntime {
    /// Starts the thread and waits for its runtime to be ready.
    pub(crate) fn start() -> io::Result<Self> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        thread::Builder::new()
            .name("forge-telemetry".into())
            .spawn(move || run(&ready_tx, stop_rx))?;
        let handle = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the telemetry thread exited before starting"))??;
        Ok(Self {
            handle,
            stop: Some(stop_tx),
        })
    }

    /// The runtime's handle, to enter while building exporters and processors.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The thread may already be gone; then there is nothing to stop.
            let _ = stop.send(());
        }
    }
}

fn run(ready: &mpsc::Sender<io::Result<Handle>>, stop: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => {
            if ready.send(Ok(runtime.handle().clone())).is_ok() {
                // Returns when told to stop or when the owner is dropped.
                let _ = runtime.block_on(stop);
            }
            // Pending export tasks are dropped with the runtime.
        }
        Err(error) => {
            let _ = ready.send(Err(error));
        }
    }
}

//! SIGINT and SIGTERM as a channel message.

use crossbeam_channel::Receiver;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::{Error, Result};

/// A channel that receives `()` for each SIGINT or SIGTERM.
pub(super) fn listen() -> Result<Receiver<()>> {
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::os("install the SIGINT and SIGTERM handlers", e))?;
    let (tx, rx) = crossbeam_channel::bounded(4);
    std::thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            for _ in signals.forever() {
                let _ = tx.try_send(());
            }
        })
        .map_err(|e| Error::os("start the signal thread", e))?;
    Ok(rx)
}

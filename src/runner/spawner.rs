//! Spawning commands from a thread with a descriptor table of its own.
//!
//! The runner holds one descriptor per claim until the engine acks the attempt: hundreds at
//! a time in a large run. A spawn copies the spawning thread's descriptor table into the
//! child, and `exec` then closes every close-on-exec descriptor of the copy again, one by
//! one: in a 10,000-task run that was about 8% of all CPU (docs/PERFORMANCE.md). This
//! thread detaches its table (`unshare(CLONE_FILES)`) when the runner starts, before any
//! claim is open, so its children start from a handful of descriptors whatever the runner
//! holds. The output pipes' write ends reach it over a socket (`SCM_RIGHTS`); the runner
//! keeps the read ends.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};
use rustix::pipe::{PipeFlags, pipe_with};

/// The runner's side of the spawning thread.
#[derive(Debug)]
pub(super) struct Spawner {
    /// `None` once the thread is gone: commands are then spawned from the runner's own
    /// table (slower with many claims held, never refused).
    thread: Option<Thread>,
}

#[derive(Debug)]
struct Thread {
    commands: Sender<Command>,
    children: Receiver<io::Result<Child>>,
    fds: UnixStream,
}

impl Spawner {
    /// Starts the thread. Call it before the runner opens anything it holds for long.
    pub(super) fn start() -> io::Result<Spawner> {
        let (ours, theirs) = UnixStream::pair()?;
        let (commands, command_rx) = channel::<Command>();
        let (child_tx, children) = channel();
        let (ready_tx, ready) = channel();
        std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                // SAFETY: from here this thread uses only descriptors of its own table:
                // the socket (copied into it by the unshare) and what arrives over it.
                // The commands it gets carry no descriptor (stdio is set here).
                #[allow(unsafe_code)]
                let detached =
                    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FILES) };
                let ok = detached.is_ok();
                let _ = ready_tx.send(detached.map_err(io::Error::from));
                if ok {
                    serve(&theirs, &command_rx, &child_tx);
                }
            })?;
        ready
            .recv()
            .map_err(|_| io::Error::other("the spawning thread ended at once"))??;
        Ok(Spawner {
            thread: Some(Thread {
                commands,
                children,
                fds: ours,
            }),
        })
    }

    /// Spawns `command` (its stdio is set here: stdin from /dev/null, stdout and stderr to
    /// new pipes) and returns the child with the read ends of the pipes.
    pub(super) fn spawn(&mut self, command: Command) -> io::Result<Child> {
        let Some(thread) = &self.thread else {
            return spawn_here(command);
        };
        match thread.spawn(command) {
            Ok(child) => Ok(child),
            Err(Failure::Refused(e)) => Err(e),
            Err(Failure::Gone(command)) => {
                tracing::warn!("the spawning thread is gone: spawning from the runner's own");
                self.thread = None;
                match command {
                    Some(command) => spawn_here(*command),
                    None => Err(io::Error::other("the spawning thread is gone")),
                }
            }
        }
    }
}

/// Why the thread did not spawn a command.
enum Failure {
    /// The spawn itself failed (a missing program, say): the attempt's error.
    Refused(io::Error),
    /// The thread is gone; the command back if it never got it.
    Gone(Option<Box<Command>>),
}

impl Thread {
    fn spawn(&self, command: Command) -> Result<Child, Failure> {
        let refused = |e: rustix::io::Errno| Failure::Refused(e.into());
        let (out_r, out_w) = pipe_with(PipeFlags::CLOEXEC).map_err(refused)?;
        let (err_r, err_w) = pipe_with(PipeFlags::CLOEXEC).map_err(refused)?;
        self.commands
            .send(command)
            .map_err(|unsent| Failure::Gone(Some(Box::new(unsent.0))))?;
        send_fds(&self.fds, [out_w.as_fd(), err_w.as_fd()]).map_err(|_| Failure::Gone(None))?;
        // Our copies of the write ends go now: the child's must be the only ones left, or
        // its output would never end.
        drop((out_w, err_w));
        let mut child = match self.children.recv() {
            Ok(spawned) => spawned.map_err(Failure::Refused)?,
            Err(_) => return Err(Failure::Gone(None)),
        };
        child.stdout = Some(ChildStdout::from(out_r));
        child.stderr = Some(ChildStderr::from(err_r));
        Ok(child)
    }
}

/// Spawns `command` from the calling thread: stdin from /dev/null, stdout and stderr to
/// new pipes.
pub(super) fn spawn_here(mut command: Command) -> io::Result<Child> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// The thread's loop: for each command, the two write ends, then the spawn.
fn serve(fds: &UnixStream, commands: &Receiver<Command>, children: &Sender<io::Result<Child>>) {
    while let Ok(mut command) = commands.recv() {
        let spawned = recv_fds(fds).and_then(|[out, err]| {
            command
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .spawn()
        });
        // The command holds the write ends until it is dropped: gone before the reply.
        drop(command);
        if children.send(spawned).is_err() {
            return;
        }
    }
}

fn send_fds(socket: &UnixStream, fds: [std::os::fd::BorrowedFd<'_>; 2]) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other(
            "no room for two descriptors in the message",
        ));
    }
    sendmsg(
        socket,
        &[IoSlice::new(b"f")],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

fn recv_fds(socket: &UnixStream) -> io::Result<[OwnedFd; 2]> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut got = Vec::with_capacity(2);
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            got.extend(fds);
        }
    }
    <[OwnedFd; 2]>::try_from(got)
        .map_err(|got| io::Error::other(format!("expected two descriptors, got {}", got.len())))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// The descriptors open in the process `pid`.
    fn open_fds(pid: u32) -> usize {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    #[test]
    fn a_child_gets_its_output_pipes_and_none_of_what_the_runner_opened_since() {
        let mut spawner = Spawner::start().expect("spawner");
        // What the runner opens later (claims, in real life): many descriptors, here not
        // even close-on-exec, so a child spawned from the runner's table would keep them.
        let held: Vec<_> = (0..300)
            .map(|_| std::fs::File::open("/dev/null").expect("open"))
            .collect();
        for f in &held {
            rustix::io::fcntl_setfd(f, rustix::io::FdFlags::empty()).expect("clear cloexec");
        }
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; ls /proc/self/fd | wc -l"]);
        let mut child = spawner.spawn(command).expect("spawn");
        let mut out = String::new();
        let mut err = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read out");
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("read err");
        assert!(child.wait().expect("wait").success());
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("out"));
        assert_eq!(err, "err\n");
        // stdin, stdout, stderr and the one `ls` opens to list them: not the 300, which
        // are not in the spawning thread's table.
        let count: usize = lines.next().expect("count").trim().parse().expect("number");
        assert!(count < 10, "the child saw {count} descriptors");
        assert!(open_fds(std::process::id()) > 300, "{} held", held.len());
    }

    #[test]
    fn a_command_that_cannot_start_is_its_own_error_and_the_thread_carries_on() {
        let mut spawner = Spawner::start().expect("spawner");
        let missing = Command::new("/nonexistent/program");
        let err = spawner.spawn(missing).expect_err("a missing program");
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(spawner.thread.is_some(), "the thread is still used");
        let mut child = spawner.spawn(Command::new("true")).expect("spawn after");
        assert!(child.wait().expect("wait").success());
    }
}

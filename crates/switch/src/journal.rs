//! The call journal: what the switch tells the store about calls (opened,
//! answered, closed), written by group commit.
//!
//! One task owns the writing. It takes every record queued since its last
//! write and applies them as one [`CallBatch`] — one database transaction,
//! on SQLite one fsync — so the cost of durability is shared by every call
//! of the moment: under load batches grow by themselves, idle they hold one
//! record. A call that opens and closes within one batch is written as its
//! CDR alone.
//!
//! A record may carry a [`Ticket`]; the engine hears the ticket back once
//! the record is durable, and only then does what must follow durability
//! (forward a call to the callee, send the final answer of a call). A batch
//! that fails changed nothing and is tried again, so nothing queued is
//! lost while the store is away; the engine meanwhile holds the answers
//! that wait on it.

use std::collections::HashSet;
use std::time::Duration;

use store::prelude::*;
use store::{Answer, CallBatch};
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// Hands back a record's durability to whoever wrote it.
pub(crate) type Ticket = u64;

/// One change of a call.
#[derive(Debug)]
pub(crate) enum Record {
    Open(ActiveCall),
    Answer(Answer),
    Close(NewCdr),
}

impl Record {
    fn call_id(&self) -> &str {
        match self {
            Record::Open(call) => &call.call_id,
            Record::Answer(answer) => &answer.call_id,
            Record::Close(cdr) => &cdr.call_id,
        }
    }
}

struct Entry {
    record: Record,
    ticket: Option<Ticket>,
}

/// The engine's end of the journal.
pub(crate) struct Journal {
    entries: mpsc::UnboundedSender<Entry>,
}

/// Records at most in one batch: a bound on one transaction's size.
const MAX_BATCH: usize = 1024;

/// The shortest time between the starts of two commits: what a record
/// may wait for company under load (not at all when the journal was idle
/// that long).
const COMMIT_PACE: std::time::Duration = std::time::Duration::from_millis(4);

/// Pause before retrying a failed batch, doubling up to the maximum.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

impl Journal {
    /// Starts the writer on `store`. Tickets of durable records arrive on
    /// the returned receiver, in batches; it closes when the journal is
    /// dropped and everything queued is written.
    pub(crate) fn start(store: Store) -> (Journal, mpsc::UnboundedReceiver<Vec<Ticket>>) {
        let (entries, queued) = mpsc::unbounded_channel();
        let (durable, tickets) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(store, queued, durable));
        (Journal { entries }, tickets)
    }

    /// Queues `record`; `ticket` comes back once it is durable.
    pub(crate) fn write(&self, record: Record, ticket: Option<Ticket>) {
        if self.entries.send(Entry { record, ticket }).is_err() {
            // The writer only ends when this sender is dropped.
            warn!("call journal writer is gone: record not written");
        }
    }
}

/// Group commit's rhythm: a writer waits for its first item, then, under
/// load, until [`COMMIT_PACE`] after its last commit began, so that each
/// commit takes in what came meanwhile: fewer, larger transactions (and
/// fsyncs) for the same items. Idle, the first item is written at once.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    last_commit: Option<tokio::time::Instant>,
}

impl Pace {
    /// Fills `batch` (empty) with the next items, at most [`MAX_BATCH`];
    /// false when the queue is closed and drained.
    pub(crate) async fn gather<T>(
        &mut self,
        queued: &mut mpsc::UnboundedReceiver<T>,
        batch: &mut Vec<T>,
    ) -> bool {
        let Some(first) = queued.recv().await else {
            return false;
        };
        batch.push(first);
        if let Some(at) = self.last_commit {
            tokio::time::sleep_until(at + COMMIT_PACE).await;
        }
        while batch.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        self.last_commit = Some(tokio::time::Instant::now());
        true
    }
}

async fn write_loop(
    store: Store,
    mut queued: mpsc::UnboundedReceiver<Entry>,
    durable: mpsc::UnboundedSender<Vec<Ticket>>,
) {
    let mut entries = Vec::with_capacity(64);
    let mut pace = Pace::default();
    while pace.gather(&mut queued, &mut entries).await {
        let tickets: Vec<Ticket> = entries.iter().filter_map(|e| e.ticket).collect();
        let batch = batch_of(entries.drain(..).map(|e| e.record));
        write_until_done(&store, &batch).await;
        if !tickets.is_empty() {
            // The engine may be gone at shutdown; the records are written.
            let _ = durable.send(tickets);
        }
    }
}

/// The records as one batch, a call that closes in it written as its CDR
/// alone.
fn batch_of(records: impl Iterator<Item = Record>) -> CallBatch {
    let records: Vec<Record> = records.collect();
    let closed: HashSet<String> = records
        .iter()
        .filter(|r| matches!(r, Record::Close(_)))
        .map(|r| r.call_id().to_owned())
        .collect();
    let mut batch = CallBatch::default();
    for record in records {
        match record {
            Record::Open(call) if !closed.contains(&call.call_id) => batch.opened.push(call),
            Record::Answer(answer) if !closed.contains(&answer.call_id) => {
                batch.answered.push(answer)
            }
            Record::Close(cdr) => batch.closed.push(cdr),
            Record::Open(_) | Record::Answer(_) => {}
        }
    }
    batch
}

/// Writes `batch`, retrying while the store fails. A record the store
/// refuses as invalid would fail every time: the batch is then written
/// without it.
async fn write_until_done(store: &Store, batch: &CallBatch) {
    let mut pause = RETRY_FIRST;
    loop {
        match store.write_calls(batch).await {
            Ok(outcome) => {
                debug!(?outcome, "call journal written");
                return;
            }
            Err(StoreError::Invalid { .. }) => {
                write_valid_part(store, batch).await;
                return;
            }
            Err(e) => {
                warn!(error = %e, retry_in = ?pause, "call journal not written; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

async fn write_valid_part(store: &Store, batch: &CallBatch) {
    let mut valid = CallBatch::default();
    for call in &batch.opened {
        match call.validate() {
            Ok(()) => valid.opened.push(call.clone()),
            Err(e) => warn!(call = %call.call_id, error = %e, "call record refused"),
        }
    }
    for answer in &batch.answered {
        match answer.validate() {
            Ok(()) => valid.answered.push(answer.clone()),
            Err(e) => warn!(call = %answer.call_id, error = %e, "answer record refused"),
        }
    }
    for cdr in &batch.closed {
        match cdr.validate() {
            Ok(()) => valid.closed.push(cdr.clone()),
            Err(e) => warn!(call = %cdr.call_id, error = %e, "CDR refused"),
        }
    }
    Box::pin(write_until_done(store, &valid)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> ActiveCall {
        ActiveCall {
            call_id: id.into(),
            node: "n".into(),
            a_leg_call_id: "a".into(),
            b_leg_call_id: None,
            caller: "1".into(),
            callee_dialled: "2".into(),
            callee_presented: None,
            decision: None,
            start_at: 1,
            answer_at: None,
        }
    }

    #[test]
    fn a_call_closed_in_the_same_batch_is_written_as_its_cdr_alone() {
        let records = vec![
            Record::Open(call("short")),
            Record::Open(call("long")),
            Record::Answer(Answer {
                call_id: "short".into(),
                answer_at: 2,
                b_leg_call_id: None,
            }),
            Record::Close(call("short").into_cdr(3, Disposition::Answered, None)),
        ];
        let batch = batch_of(records.into_iter());
        assert_eq!(batch.opened.len(), 1);
        assert_eq!(batch.opened[0].call_id, "long");
        assert!(batch.answered.is_empty());
        assert_eq!(batch.closed.len(), 1);
        assert_eq!(batch.closed[0].call_id, "short");
    }
}

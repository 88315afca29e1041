//! The registrar's group commit: the bindings of every REGISTER of the
//! moment written in one transaction (on SQLite one fsync), each REGISTER
//! answered once its bindings are durable. One task owns the writing, with
//! the call journal's [`Pace`].
//!
//! A batch may not name an address-of-record twice (a `*` and a new contact
//! of the same phone, say): such a batch is cut in two, in order.

use std::collections::HashSet;

use sip::transaction::TransactionId;
use store::prelude::*;
use tokio::sync::mpsc;

use crate::journal::Pace;
use crate::registrar::Write;

/// Whether a REGISTER's bindings were written: `Ok(false)` when the store
/// holds a newer REGISTER of the same Call-ID (nothing changed), `Err`
/// with what failed.
pub(crate) type Outcome = Result<bool, String>;

/// REGISTER transactions and the writes they wait on, in arrival order.
type Writes = Vec<(TransactionId, Write)>;

/// The engine's end of the writer.
pub(crate) struct RegistrationWriter {
    queue: mpsc::UnboundedSender<(TransactionId, Write)>,
}

impl RegistrationWriter {
    /// Starts the writer; outcomes arrive on the receiver, in batches.
    pub(crate) fn start(
        store: Store,
    ) -> (
        RegistrationWriter,
        mpsc::UnboundedReceiver<Vec<(TransactionId, Outcome)>>,
    ) {
        let (queue, queued) = mpsc::unbounded_channel();
        let (done, outcomes) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(store, queued, done));
        (RegistrationWriter { queue }, outcomes)
    }

    /// Queues the bindings of REGISTER transaction `id`.
    pub(crate) fn write(&self, id: TransactionId, write: Write) {
        // The writer ends only when this sender is dropped.
        let _ = self.queue.send((id, write));
    }
}

async fn write_loop(
    store: Store,
    mut queued: mpsc::UnboundedReceiver<(TransactionId, Write)>,
    done: mpsc::UnboundedSender<Vec<(TransactionId, Outcome)>>,
) {
    let mut batch = Vec::new();
    let mut pace = Pace::default();
    while pace.gather(&mut queued, &mut batch).await {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut rest = std::mem::take(&mut batch);
        while !rest.is_empty() {
            let (part, later) = without_repeated_aors(rest);
            outcomes.extend(write_part(&store, part).await);
            rest = later;
        }
        if done.send(outcomes).is_err() {
            return;
        }
    }
}

/// The longest prefix of `writes` in which no AOR comes twice, and the rest.
fn without_repeated_aors(mut writes: Writes) -> (Writes, Writes) {
    let mut seen = HashSet::new();
    let cut = writes
        .iter()
        .position(|(_, write)| !seen.insert(write.aor().to_owned()))
        .unwrap_or(writes.len());
    let later = writes.split_off(cut);
    (writes, later)
}

async fn write_part(store: &Store, writes: Writes) -> Vec<(TransactionId, Outcome)> {
    let mut cleared = Vec::new();
    let mut bindings = Vec::new();
    for (_, write) in &writes {
        match write {
            Write::RemoveAll { aor } => cleared.push(aor.clone()),
            Write::Bindings { bindings: b, .. } => bindings.extend(b.iter().cloned()),
        }
    }
    match store.write_bindings(&cleared, &bindings).await {
        Ok(applied) => {
            let mut applied = applied.into_iter();
            writes
                .into_iter()
                .map(|(id, write)| {
                    let count = match &write {
                        Write::RemoveAll { .. } => 0,
                        Write::Bindings { bindings, .. } => bindings.len(),
                    };
                    let mine: Vec<BindingWrite> = applied.by_ref().take(count).collect();
                    let all_applied = mine.iter().all(|w| *w == BindingWrite::Applied);
                    (id, Ok(all_applied))
                })
                .collect()
        }
        Err(e) => {
            let why = e.to_string();
            writes
                .into_iter()
                .map(|(id, _)| (id, Err(why.clone())))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> TransactionId {
        // Ids come from a layer; any distinct ones do here.
        let mut layer: sip::transaction::TransactionLayer<u32> =
            sip::transaction::TransactionLayer::new(sip::transaction::Config::default());
        let request = sip::build::MessageBuilder::request(sip::Method::Options, "sip:x")
            .header(
                sip::HeaderName::Via,
                &format!("SIP/2.0/UDP h;branch=z9hG4bK{n}"),
            )
            .header(sip::HeaderName::CSeq, "1 OPTIONS")
            .header(sip::HeaderName::CallId, "c")
            .build();
        layer
            .send_request(
                request,
                n,
                sip::transaction::Reliability::Reliable,
                std::time::Instant::now(),
            )
            .unwrap()
    }

    fn remove_all(aor: &str) -> Write {
        Write::RemoveAll { aor: aor.into() }
    }

    #[test]
    fn a_batch_is_cut_where_an_aor_comes_again() {
        let writes = vec![
            (id(1), remove_all("sip:1@callex")),
            (id(2), remove_all("sip:2@callex")),
            (id(3), remove_all("sip:1@callex")),
            (id(4), remove_all("sip:3@callex")),
        ];
        let (first, rest) = without_repeated_aors(writes);
        assert_eq!(first.len(), 2);
        assert_eq!(rest.len(), 2);
        let (second, rest) = without_repeated_aors(rest);
        assert_eq!(second.len(), 2);
        assert!(rest.is_empty());
    }
}

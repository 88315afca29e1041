-- How the exchange read the dial string of a call, or why it refused it
-- (SPEC: the exchange "explains its decision in the call log"), e.g.
-- 'a national number of KR (trunk prefix)' or '6200-6200#082 is not in
-- service'. Written when the call opens and carried into its CDR, by the
-- switch or by recovery after a crash. NULL for calls recorded before the
-- exchange explained its decisions.
ALTER TABLE active_calls ADD COLUMN decision TEXT CHECK (length(decision) <= 300);
ALTER TABLE cdrs         ADD COLUMN decision TEXT CHECK (length(decision) <= 300);

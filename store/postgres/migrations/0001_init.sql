-- Re-identification store: token → original sealed by pseudonym.Sealer.
CREATE TABLE pseudonyms (
	token  text PRIMARY KEY,
	sealed bytea NOT NULL
);

-- Upload state: key → record sealed by uploads.Sealer. The expiry is also a
-- column (Unix seconds) so reads and Sweep can skip expired records
-- without opening them. Keys sort bytewise, like bbolt's.
CREATE TABLE upload_state (
	key     text COLLATE "C" PRIMARY KEY,
	expires bigint NOT NULL,
	sealed  bytea NOT NULL
);
CREATE INDEX upload_state_expires ON upload_state (expires);

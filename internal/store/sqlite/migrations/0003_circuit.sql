-- 0003_circuit: the state of each endpoint's circuit breaker (store.Circuit).
--
-- The delivery engine decides it, each process for itself, and stores its
-- latest change here so that the API, the CLI and the portal can show it;
-- nothing reads it back to decide a delivery. Only SetEndpointCircuit
-- writes these columns: API updates leave them, and they do not move
-- updated_at (which tells caches the endpoint's settings changed).
--
-- The defaults are a closed circuit that never opened, which is what every
-- existing endpoint has. (0002 belongs to another change; migrations are
-- applied by version, whatever the order they land in.)

ALTER TABLE endpoints ADD COLUMN circuit_open       INTEGER NOT NULL DEFAULT 0;
-- Consecutive failed attempts that opened it, or so far while closed.
ALTER TABLE endpoints ADD COLUMN circuit_failures   INTEGER NOT NULL DEFAULT 0;
-- When it last opened or closed; NULL: never opened.
ALTER TABLE endpoints ADD COLUMN circuit_since      INTEGER;
-- When the next probe may go while it is open; NULL: none.
ALTER TABLE endpoints ADD COLUMN circuit_next_probe INTEGER;

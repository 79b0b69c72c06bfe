-- 0003_circuit: the state of each endpoint's circuit breaker (store.Circuit),
-- as in internal/store/sqlite/migrations/0003_circuit.sql.
--
-- The delivery engine decides it, each process for itself, and stores its
-- latest change here so that the API, the CLI and the portal can show it;
-- nothing reads it back to decide a delivery. Only SetEndpointCircuit
-- writes these columns: API updates leave them, and they do not move
-- updated_at (which tells caches the endpoint's settings changed).
--
-- The defaults are a closed circuit that never opened, which is what every
-- existing endpoint has. With constant defaults, ADD COLUMN changes the
-- catalog only: the table is not rewritten. (0002 belongs to another
-- change; migrations are applied by version, whatever the order they land
-- in.)
ALTER TABLE endpoints
    ADD COLUMN circuit_open       boolean NOT NULL DEFAULT false,
    -- Consecutive failed attempts that opened it, or so far while closed.
    ADD COLUMN circuit_failures   integer NOT NULL DEFAULT 0,
    -- When it last opened or closed; NULL: never opened.
    ADD COLUMN circuit_since      timestamptz,
    -- When the next probe may go while it is open; NULL: none.
    ADD COLUMN circuit_next_probe timestamptz;

-- 0004_event_type_validation: an event type's choice about validating the
-- payloads of its messages against its newest schema (a Herald extension of
-- the Svix event type). NULL follows the server's default
-- (--validate-payloads), 1 validates, 0 does not. Existing event types
-- follow the default, which is off: nothing changes until it is asked for.
--
-- A nullable column with no default: adding it rewrites nothing, and a
-- release without it keeps working on this schema.
ALTER TABLE event_types ADD COLUMN validate_payloads INTEGER CHECK (validate_payloads IN (0, 1));

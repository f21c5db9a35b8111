-- One database per service, each owned by its own login role, so that no service can read or
-- write another's tables. Run once by the postgres image on an empty data directory
-- (/docker-entrypoint-initdb.d); to re-run it, remove the volume: `docker compose down -v`.
--
-- FOR LOCAL USE ONLY: the passwords below are placeholders, repeated in docker-compose.yml's
-- *_DATABASE_URL values. Never reuse them anywhere reachable from a network you do not control.

CREATE ROLE registry LOGIN PASSWORD 'registry-local-only';
CREATE DATABASE registry OWNER registry;
REVOKE ALL ON DATABASE registry FROM PUBLIC;

CREATE ROLE matching LOGIN PASSWORD 'matching-local-only';
CREATE DATABASE matching OWNER matching;
REVOKE ALL ON DATABASE matching FROM PUBLIC;

CREATE ROLE funding LOGIN PASSWORD 'funding-local-only';
CREATE DATABASE funding OWNER funding;
REVOKE ALL ON DATABASE funding FROM PUBLIC;

CREATE ROLE notifications LOGIN PASSWORD 'notifications-local-only';
CREATE DATABASE notifications OWNER notifications;
REVOKE ALL ON DATABASE notifications FROM PUBLIC;

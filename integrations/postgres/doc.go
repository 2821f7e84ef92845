// Package postgres backs up and restores PostgreSQL databases with pg_dump and pg_restore, streaming
// the custom-format dump straight into and out of a backup repository without buffering it whole, runs
// the SQL checks that prove a restored copy is sound, and carries out failovers: replication status and
// lag, fencing an old primary, promoting a replica, and write probes.
package postgres

// Package postgres backs up and restores PostgreSQL databases with pg_dump and pg_restore, streaming
// the custom-format dump straight into and out of a backup repository without buffering it whole,
// and runs the SQL checks that prove a restored copy is sound.
package postgres

// Package codec encrypts Temporal payloads with AES-256-GCM under named keys, so keys can rotate while
// old histories stay readable, and serves the codec endpoint the Temporal Web UI and CLI call to show
// decrypted payloads.
package codec

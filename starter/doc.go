// Command lifeboat is Lifeboat's operator CLI: it starts, watches and steers Lifeboat's workflows on
// Temporal, and runs the local development stack.
package main

package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
)

// ErrCommandStart wraps the error of a command BackupCommand could not start (not found, not
// executable).
var ErrCommandStart = errors.New("cannot start command")

// BackupCommand runs argv (without a shell) and saves its standard output as a snapshot holding
// one file, name. A command that exits with an error leaves no snapshot, even when it wrote output
// first; its standard error goes to stderr. Cancelling ctx kills the command.
func (r *Repository) BackupCommand(ctx context.Context, argv []string, name string, opts BackupOptions, stderr io.Writer) (*Snapshot, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("backup command: %w: empty command", ErrCommandStart)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Stderr = stderr
	pr, pw := io.Pipe()
	c.Stdout = pw
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCommandStart, argv[0], err)
	}
	go func() {
		err := c.Wait()
		if err != nil {
			err = fmt.Errorf("%s failed: %w", argv[0], err)
		}
		pw.CloseWithError(err) // nil: the snapshot sees io.EOF and is saved
	}()
	sn, err := r.BackupStream(ctx, pr, name, opts)
	if err != nil {
		cancel()
		pr.CloseWithError(err)
		return nil, err
	}
	return sn, nil
}

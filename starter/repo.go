package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/postgres"
	"github.com/lifeboat-dr/lifeboat/integrations/repository"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
	"github.com/lifeboat-dr/lifeboat/integrations/storage/location"
)

// repoFlags locate and unlock a repository.
type repoFlags struct {
	repo, passwordFile, keyFile string
	// wait is how long taking a lock waits for another process's conflicting lock.
	wait time.Duration
}

func (a *app) addRepoFlags(cmd *cobra.Command, f *repoFlags) {
	repoEnv, _ := a.env("LIFEBOAT_REPO")
	cmd.PersistentFlags().StringVarP(&f.repo, "repo", "r", repoEnv, "repository location: a path, s3://bucket/prefix?endpoint=…, gs://bucket/prefix (env LIFEBOAT_REPO)")
	cmd.PersistentFlags().StringVar(&f.passwordFile, "password-file", "", "file holding the passphrase (default: env LIFEBOAT_REPO_PASSWORD)")
	cmd.PersistentFlags().StringVar(&f.keyFile, "key-file", "", "key file, instead of or besides a passphrase (env LIFEBOAT_REPO_KEY_FILE)")
	cmd.PersistentFlags().DurationVar(&f.wait, "wait", 0, "wait up to this long for another process's lock instead of failing at once (backup, restore, check, copy: a prune or forget; forget, prune, repair: anything)")
}

func (a *app) credentials(f *repoFlags) (repository.Credentials, error) {
	var c repository.Credentials
	switch {
	case f.passwordFile != "":
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return c, exitError{exitUsage, err}
		}
		c.Passphrase = strings.TrimRight(string(b), "\r\n")
	default:
		c.Passphrase, _ = a.env("LIFEBOAT_REPO_PASSWORD")
	}
	keyFile := f.keyFile
	if keyFile == "" {
		keyFile, _ = a.env("LIFEBOAT_REPO_KEY_FILE")
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return c, exitError{exitUsage, err}
		}
		c.KeyFile = b
	}
	if c.Passphrase == "" && len(c.KeyFile) == 0 {
		return c, usageErr("no credentials: set LIFEBOAT_REPO_PASSWORD, or pass --password-file or --key-file")
	}
	return c, nil
}

func (a *app) backend(ctx context.Context, loc string) (storage.Backend, error) {
	if loc == "" {
		return nil, usageErr("no repository: pass --repo or set LIFEBOAT_REPO")
	}
	be, err := location.Open(ctx, loc, a.env)
	if err != nil {
		return nil, exitError{exitUsage, err}
	}
	if c, ok := be.(io.Closer); ok {
		a.closers = append(a.closers, c)
	}
	return be, nil
}

func (a *app) openRepo(ctx context.Context, f *repoFlags) (*repository.Repository, error) {
	be, err := a.backend(ctx, f.repo)
	if err != nil {
		return nil, err
	}
	creds, err := a.credentials(f)
	if err != nil {
		return nil, err
	}
	r, err := repository.Open(ctx, be, creds)
	if errors.Is(err, repository.ErrWrongCredentials) || errors.Is(err, repository.ErrNotARepository) {
		return nil, exitError{exitUsage, err}
	}
	return r, err
}

// boundMemory loads the repository's index and, unless GOMEMLIMIT is set, gives the Go runtime a
// soft memory limit sized to it: the fixed working set of a backup (pack, chunk and compression
// buffers, about 64 MiB) or what a restore may hold (extra), plus the index, with headroom. The
// garbage collector then returns memory to the system as it goes instead of letting the heap
// double.
func (a *app) boundMemory(ctx context.Context, r *repository.Repository, extra int64) error {
	if err := r.LoadIndex(ctx); err != nil {
		return err
	}
	if _, set := a.env("GOMEMLIMIT"); set {
		return nil
	}
	const perBlob = 200 // bytes of index per blob, with map overhead
	debug.SetMemoryLimit(100<<20 + extra + int64(r.Index().Len())*perBlob*2)
	return nil
}

func (a *app) repoCommand() *cobra.Command {
	f := &repoFlags{}
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Work with backup repositories directly: init, backup, restore, check, forget, prune, copy",
		Long: `Work with an encrypted, deduplicated backup repository directly, without Temporal.

The repository is given with --repo or LIFEBOAT_REPO:
  /srv/backups                       a local directory
  s3://bucket/prefix?endpoint=http://minio:9000&path_style=true   S3 or an S3-compatible server
  gs://bucket/prefix                 Google Cloud Storage
S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the default AWS chain; GCS
from GOOGLE_APPLICATION_CREDENTIALS. The passphrase comes from LIFEBOAT_REPO_PASSWORD or
--password-file; a key file from --key-file or LIFEBOAT_REPO_KEY_FILE.

Commands that take a lock fail at once when another process holds a conflicting one, naming it;
--wait DURATION waits for it instead.`,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := cmd.Root().PersistentPreRunE(cmd, args); err != nil {
				return err
			}
			if f.wait < 0 {
				return usageErr("--wait %s: must not be negative", f.wait)
			}
			if f.wait > 0 {
				cmd.SetContext(repository.WithLockWait(cmd.Context(), f.wait))
			}
			return nil
		},
	}
	a.addRepoFlags(cmd, f)
	for _, c := range []*cobra.Command{
		a.repoInit(f), a.repoKey(f), a.repoBackup(f), a.repoSnapshots(f), a.repoLs(f), a.repoFind(f),
		a.repoRestore(f), a.repoDump(f), a.repoDiff(f), a.repoCheck(f), a.repoForget(f), a.repoPrune(f),
		a.repoCopy(f), a.repoUnlock(f), a.repoRepair(f),
	} {
		cmd.AddCommand(c)
	}
	return cmd
}

func (a *app) repoInit(f *repoFlags) *cobra.Command {
	var compression string
	var packMiB int
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a repository",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			be, err := a.backend(cmd.Context(), f.repo)
			if err != nil {
				return err
			}
			creds, err := a.credentials(f)
			if err != nil {
				return err
			}
			r, err := repository.Init(cmd.Context(), be, creds, repository.InitOptions{Compression: compression, PackSize: packMiB << 20})
			if err != nil {
				if errors.Is(err, repository.ErrAlreadyExists) {
					return exitError{exitUsage, err}
				}
				return err
			}
			cfg := r.Config()
			return a.print(cfg, func(w io.Writer) {
				fmt.Fprintf(w, "created repository %s at %s\n", cfg.ID.Short(), be.Location())
				fmt.Fprintln(w, "Keep the passphrase or key file safe: without one, nothing in the repository can be read.")
			})
		},
	}
	cmd.Flags().StringVar(&compression, "compression", "fastest", "zstd level: fastest, default, better or off")
	cmd.Flags().IntVar(&packMiB, "pack-size", 8, "pack file size in MiB")
	return cmd
}

func (a *app) repoKey(f *repoFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Add, list and revoke the keys that open a repository"}
	var label, newPasswordFile, newKeyFile string
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a key slot: a new passphrase (--new-password-file) or key file (--new-key-file)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c repository.Credentials
			switch {
			case newPasswordFile != "" && newKeyFile != "":
				return usageErr("give --new-password-file or --new-key-file, not both")
			case newPasswordFile != "":
				b, err := os.ReadFile(newPasswordFile)
				if err != nil {
					return exitError{exitUsage, err}
				}
				c.Passphrase = strings.TrimRight(string(b), "\r\n")
			case newKeyFile != "":
				b, err := os.ReadFile(newKeyFile)
				if err != nil {
					return exitError{exitUsage, err}
				}
				c.KeyFile = b
			default:
				return usageErr("give --new-password-file or --new-key-file")
			}
			r, err := a.openRepo(cmd.Context(), f)
			if err != nil {
				return err
			}
			id, err := r.AddKey(cmd.Context(), c, label)
			if err != nil {
				return err
			}
			return a.print(map[string]string{"id": id.String()}, func(w io.Writer) { fmt.Fprintf(w, "added key %s\n", id.Short()) })
		},
	}
	add.Flags().StringVar(&label, "label", "", "what the key is for")
	add.Flags().StringVar(&newPasswordFile, "new-password-file", "", "file holding the new passphrase")
	add.Flags().StringVar(&newKeyFile, "new-key-file", "", "key file to add (make one with `lifeboat repo key generate-file`)")
	list := &cobra.Command{
		Use: "list", Short: "List key slots", Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.openRepo(cmd.Context(), f)
			if err != nil {
				return err
			}
			keys, err := r.ListKeys(cmd.Context())
			if err != nil {
				return err
			}
			return a.print(keys, func(w io.Writer) {
				for _, k := range keys {
					cur := " "
					if k.Current {
						cur = "*"
					}
					fmt.Fprintf(w, "%s %s  %-10s  %s  %s@%s  %s\n", cur, k.ID.Short(), k.Kind, k.Created.Local().Format("2006-01-02 15:04"), k.Username, k.Hostname, k.Label)
				}
			})
		},
	}
	remove := &cobra.Command{
		Use: "remove KEY-ID", Short: "Revoke a key slot", Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.openRepo(cmd.Context(), f)
			if err != nil {
				return err
			}
			keys, err := r.ListKeys(cmd.Context())
			if err != nil {
				return err
			}
			var match []repository.KeyInfo
			for _, k := range keys {
				if strings.HasPrefix(k.ID.String(), args[0]) {
					match = append(match, k)
				}
			}
			if len(match) != 1 {
				return usageErr("%q matches %d key slots", args[0], len(match))
			}
			if err := r.RemoveKey(cmd.Context(), match[0].ID); err != nil {
				return err
			}
			return a.print(map[string]string{"removed": match[0].ID.String()}, func(w io.Writer) { fmt.Fprintf(w, "removed key %s\n", match[0].ID.Short()) })
		},
	}
	gen := &cobra.Command{
		Use: "generate-file", Short: "Print a new key file to stdout", Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := a.stdout.Write(repository.GenerateKeyFile())
			return err
		},
	}
	cmd.AddCommand(add, list, remove, gen)
	return cmd
}

func (a *app) repoBackup(f *repoFlags) *cobra.Command {
	var opts repository.BackupOptions
	var stdin bool
	var name, pgDSN string
	cmd := &cobra.Command{
		Use:   "backup [PATH...] | --stdin --name NAME | --name NAME -- COMMAND [ARG...] | --postgres DSN",
		Short: "Back up directories and files, standard input, or a command's output",
		Example: `  lifeboat repo backup /srv/www --source www --tag nightly --exclude '*.tmp'
  pg_dump -Fc orders | lifeboat repo backup --stdin --name orders.dump --source orders-db
  lifeboat repo backup --name orders.dump --source orders-db -- pg_dump -Fc orders
  PGPASSWORD=… lifeboat repo backup --postgres postgres://backup@db1/orders --source orders-db`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dash := cmd.ArgsLenAtDash()
			var paths, command []string
			if dash >= 0 {
				paths, command = args[:dash], args[dash:]
			} else {
				paths = args
			}
			switch {
			case pgDSN != "" && (stdin || len(paths) > 0 || len(command) > 0):
				return usageErr("--postgres is the whole input: no paths, --stdin or command with it")
			case len(command) > 0 && (stdin || len(paths) > 0):
				return usageErr("a command after -- is the whole input: no paths or --stdin with it")
			case stdin && len(paths) > 0:
				return usageErr("--stdin takes no paths")
			case (stdin || len(command) > 0) && name == "":
				return usageErr("a stream needs --name, the file name it gets in the snapshot")
			case !stdin && len(command) == 0 && len(paths) == 0 && pgDSN == "":
				return usageErr("nothing to back up: give paths, --stdin, -- COMMAND or --postgres DSN")
			}
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			opts.Program = "lifeboat " + buildVersion()
			var fileErrors int
			opts.OnError = func(path string, err error) {
				fileErrors++
				fmt.Fprintf(a.stderr, "warning: %s: %v (not in the snapshot)\n", path, err)
			}
			opts.Progress = a.backupProgress()
			if err := a.boundMemory(ctx, r, 0); err != nil {
				return err
			}
			var sn *repository.Snapshot
			switch {
			case pgDSN != "":
				sn, _, err = postgres.Tools{}.BackupToRepository(ctx, r, pgDSN, opts)
			case stdin:
				sn, err = r.BackupStream(ctx, a.stdin, name, opts)
			case len(command) > 0:
				sn, err = backupCommand(ctx, r, command, name, opts, a.stderr)
			default:
				sn, err = r.Backup(ctx, paths, opts)
			}
			if err != nil {
				return err
			}
			if err := a.print(sn, func(w io.Writer) { printSnapshotSummary(w, sn) }); err != nil {
				return err
			}
			if fileErrors > 0 {
				return exitError{exitBadOutcome, fmt.Errorf("snapshot %s is incomplete: %d files could not be read", sn.ID.Short(), fileErrors)}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Source, "source", "", "name of what is backed up (default: the paths)")
	fl.StringArrayVar(&opts.Tags, "tag", nil, "tag the snapshot (repeatable)")
	fl.StringArrayVar(&opts.Excludes, "exclude", nil, "skip entries matching this glob, by name or relative path (repeatable)")
	fl.StringVar(&opts.Hostname, "host", "", "host name to record (default: this host)")
	fl.BoolVar(&opts.NoParent, "force", false, "read every file, even those unchanged since the last snapshot")
	fl.BoolVar(&stdin, "stdin", false, "back up standard input as one file named --name")
	fl.StringVar(&name, "name", "", "file name of a stream in the snapshot")
	fl.StringVar(&pgDSN, "postgres", "", "back up this PostgreSQL database with pg_dump (custom format); put the password in PGPASSWORD, not the DSN")
	return cmd
}

// backupCommand backs up a command's standard output; a command that fails leaves no snapshot.
func backupCommand(ctx context.Context, r *repository.Repository, command []string, name string, opts repository.BackupOptions, stderr io.Writer) (*repository.Snapshot, error) {
	sn, err := r.BackupCommand(ctx, command, name, opts, stderr)
	if errors.Is(err, repository.ErrCommandStart) {
		return nil, exitError{exitUsage, err}
	}
	return sn, err
}

func (a *app) backupProgress() func(repository.Progress) {
	if a.output != "text" {
		return nil
	}
	return func(p repository.Progress) {
		rate := float64(p.BytesDone) / max(p.Elapsed.Seconds(), 0.001) / (1 << 20)
		fmt.Fprintf(a.stderr, "\r%d files, %s read, %s new (%s stored), %.0f MiB/s, %s   ",
			p.FilesDone, units.Bytes(p.BytesDone), units.Bytes(p.BytesNew), units.Bytes(p.StoredNew), rate, p.Elapsed.Round(time.Second))
		if p.Done {
			fmt.Fprintln(a.stderr)
		}
	}
}

func printSnapshotSummary(w io.Writer, sn *repository.Snapshot) {
	s := sn.Summary
	fmt.Fprintf(w, "snapshot %s saved: %s\n", sn.ID.Short(), sn.Source)
	if s == nil {
		return
	}
	fmt.Fprintf(w, "  files: %d new, %d changed, %d unmodified; %d directories\n", s.FilesNew, s.FilesChanged, s.FilesUnmodified, s.Dirs)
	fmt.Fprintf(w, "  data:  %s processed, %s new in %d blobs, %s stored\n", units.Bytes(s.TotalBytes), units.Bytes(s.BytesAdded), s.BlobsAdded, units.Bytes(s.StoredAdded))
	fmt.Fprintf(w, "  took:  %s\n", s.Duration.Round(time.Millisecond))
}

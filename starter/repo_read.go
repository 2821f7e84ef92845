package main

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/units"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/repository"
)

func snapshotFilterFlags(cmd *cobra.Command, f *repository.SnapshotFilter) {
	cmd.Flags().StringVar(&f.Source, "source", "", "only snapshots of this source")
	cmd.Flags().StringVar(&f.Hostname, "host", "", "only snapshots from this host")
	cmd.Flags().StringArrayVar(&f.Tags, "tag", nil, "only snapshots with this tag (repeatable: all must match)")
}

func (a *app) repoSnapshots(f *repoFlags) *cobra.Command {
	var filter repository.SnapshotFilter
	cmd := &cobra.Command{
		Use: "snapshots", Short: "List snapshots, oldest first", Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.openRepo(cmd.Context(), f)
			if err != nil {
				return err
			}
			all, err := r.Snapshots(cmd.Context())
			if err != nil {
				return err
			}
			var out []*repository.Snapshot
			for _, sn := range all {
				if filter.Match(sn) {
					out = append(out, sn)
				}
			}
			type row struct {
				ID string `json:"id"`
				*repository.Snapshot
			}
			rows := make([]row, len(out))
			for i, sn := range out {
				rows[i] = row{ID: sn.ID.String(), Snapshot: sn}
			}
			return a.print(rows, func(w io.Writer) {
				fmt.Fprintf(w, "%-8s  %-16s  %-20s  %-12s  %10s  %s\n", "ID", "TIME", "SOURCE", "HOST", "SIZE", "TAGS")
				for _, sn := range out {
					size := ""
					if sn.Summary != nil {
						size = units.Bytes(sn.Summary.TotalBytes)
					}
					fmt.Fprintf(w, "%-8s  %-16s  %-20s  %-12s  %10s  %s\n", sn.ID.Short(), sn.Time.Local().Format("2006-01-02 15:04"), sn.Source, sn.Hostname, size, strings.Join(sn.Tags, ","))
				}
				fmt.Fprintf(w, "%d snapshots\n", len(out))
			})
		},
	}
	snapshotFilterFlags(cmd, &filter)
	return cmd
}

type lsEntry struct {
	Path   string              `json:"path"`
	Type   repository.NodeType `json:"type"`
	Mode   string              `json:"mode"`
	Size   uint64              `json:"size"`
	MTime  time.Time           `json:"mtime"`
	Target string              `json:"link_target,omitempty"`
}

func entryOf(p string, n *repository.Node) lsEntry {
	return lsEntry{Path: p, Type: n.Type, Mode: n.Mode.String(), Size: n.Size, MTime: n.ModTime, Target: n.LinkTarget}
}

func printEntries(w io.Writer, entries []lsEntry) {
	for _, e := range entries {
		link := ""
		if e.Target != "" {
			link = " -> " + e.Target
		}
		fmt.Fprintf(w, "%-7s %-11s %12d  %s  %s%s\n", e.Type, e.Mode, e.Size, e.MTime.Local().Format("2006-01-02 15:04"), e.Path, link)
	}
}

func (a *app) repoLs(f *repoFlags) *cobra.Command {
	var recursive bool
	var filter repository.SnapshotFilter
	cmd := &cobra.Command{
		Use: "ls SNAPSHOT [DIR]", Short: "List a snapshot's contents (SNAPSHOT: an ID prefix or latest)",
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			sn, err := r.FindSnapshot(ctx, args[0], filter)
			if err != nil {
				return err
			}
			if err := r.LoadIndex(ctx); err != nil {
				return err
			}
			dir := ""
			if len(args) == 2 {
				dir = strings.Trim(path.Clean("/"+args[1]), "/")
			}
			var entries []lsEntry
			err = r.Walk(ctx, sn.Tree, func(p string, n *repository.Node) error {
				inside := dir == "" || strings.HasPrefix(p, dir+"/")
				onTheWay := strings.HasPrefix(dir+"/", p+"/")
				switch {
				case inside:
					entries = append(entries, entryOf("/"+p, n))
					if !recursive && n.Type == repository.NodeDir {
						return fs.SkipDir
					}
				case onTheWay:
					return nil
				case n.Type == repository.NodeDir:
					return fs.SkipDir
				}
				return nil
			})
			if err != nil {
				return err
			}
			return a.print(entries, func(w io.Writer) { printEntries(w, entries) })
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "list subdirectories too")
	snapshotFilterFlags(cmd, &filter)
	return cmd
}

func (a *app) repoFind(f *repoFlags) *cobra.Command {
	var filter repository.SnapshotFilter
	cmd := &cobra.Command{
		Use: "find PATTERN", Short: "Find files by name or path glob in every snapshot",
		Example: `  lifeboat repo find '*.conf'
  lifeboat repo find 'etc/nginx/*' --source web`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			pattern := strings.TrimPrefix(args[0], "/")
			if _, err := path.Match(pattern, ""); err != nil {
				return usageErr("pattern %q: %v", args[0], err)
			}
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			all, err := r.Snapshots(ctx)
			if err != nil {
				return err
			}
			if err := r.LoadIndex(ctx); err != nil {
				return err
			}
			type match struct {
				Snapshot string    `json:"snapshot"`
				Time     time.Time `json:"time"`
				lsEntry
			}
			var found []match
			for _, sn := range all {
				if !filter.Match(sn) {
					continue
				}
				err := r.Walk(ctx, sn.Tree, func(p string, n *repository.Node) error {
					byName, _ := path.Match(pattern, n.Name)
					byPath, _ := path.Match(pattern, p)
					if byName || byPath {
						found = append(found, match{Snapshot: sn.ID.String(), Time: sn.Time, lsEntry: entryOf("/"+p, n)})
					}
					return nil
				})
				if err != nil {
					return fmt.Errorf("snapshot %s: %w", sn.ID.Short(), err)
				}
			}
			return a.print(found, func(w io.Writer) {
				for _, m := range found {
					fmt.Fprintf(w, "%s  %s  ", m.Snapshot[:8], m.Time.Local().Format("2006-01-02 15:04"))
					printEntries(w, []lsEntry{m.lsEntry})
				}
				fmt.Fprintf(w, "%d matches\n", len(found))
			})
		},
	}
	snapshotFilterFlags(cmd, &filter)
	return cmd
}

func (a *app) repoDiff(f *repoFlags) *cobra.Command {
	return &cobra.Command{
		Use: "diff SNAPSHOT-A SNAPSHOT-B", Short: "Show what changed between two snapshots",
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			sa, err := r.FindSnapshot(ctx, args[0], repository.SnapshotFilter{})
			if err != nil {
				return err
			}
			sb, err := r.FindSnapshot(ctx, args[1], repository.SnapshotFilter{})
			if err != nil {
				return err
			}
			var changes []repository.Change
			st, err := r.Diff(ctx, sa, sb, func(c repository.Change) error {
				changes = append(changes, c)
				return nil
			})
			if err != nil {
				return err
			}
			type out struct {
				Changes []repository.Change  `json:"changes"`
				Stats   repository.DiffStats `json:"stats"`
			}
			return a.print(out{changes, st}, func(w io.Writer) {
				sign := map[repository.ChangeKind]string{repository.Added: "+", repository.Removed: "-", repository.Modified: "M", repository.Metadata: "U"}
				for _, c := range changes {
					fmt.Fprintf(w, "%s  %s\n", sign[c.Kind], c.Path)
				}
				fmt.Fprintf(w, "%d added, %d removed, %d modified, %d metadata only\n", st.Added, st.Removed, st.Modified, st.Metadata)
			})
		},
	}
}

package repository

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// CheckOptions choose how deep a check goes.
type CheckOptions struct {
	// ReadData downloads packs and verifies every blob in them against its ID.
	ReadData bool
	// ReadDataPercent, with ReadData, reads a random subset of this share of the packs (0 or 100:
	// all), so that large repositories can be verified a slice at a time.
	ReadDataPercent float64
	// Progress, when set, is told how many packs have been read.
	Progress func(packsRead, packsTotal int)
	// RemoveTemps deletes the temporary files a killed process left in the backend (see
	// CheckReport.TempFiles) that were last written to longer ago than a lock takes to go stale
	// (30 minutes); younger ones may be uploads in progress and are only reported.
	RemoveTemps bool
}

// CheckReport lists what a check found. It is clean when Problems and Damaged are both empty.
type CheckReport struct {
	Snapshots int   `json:"snapshots"`
	Trees     int   `json:"trees"`
	Packs     int   `json:"packs"`
	Blobs     int   `json:"blobs"`
	PacksRead int   `json:"packs_read"`
	BytesRead int64 `json:"bytes_read"`
	// Problems are damage to the repository's structure: index files, snapshots, packs.
	Problems []string `json:"problems,omitempty"`
	// Damaged names every file or directory, in every snapshot, whose data is missing or damaged.
	Damaged []DamagedPath `json:"damaged,omitempty"`
	// Unreferenced packs are in no index: left by an interrupted backup or prune, or listed in an
	// index file that was lost. Prune refuses to run while there are any; RepairIndex indexes them.
	Unreferenced []string `json:"unreferenced,omitempty"`
	// TempFiles are temporary files in the backend (local disk): uploads in progress, or left by a
	// process that was killed mid-write. They are never objects and harm nothing but space;
	// CheckOptions.RemoveTemps deletes the old ones.
	TempFiles []TempFile    `json:"temp_files,omitempty"`
	Duration  time.Duration `json:"duration"`
}

// TempFile is a temporary file found in the backend.
type TempFile struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	// Removed says that the check deleted it (RemoveTemps, and old enough).
	Removed bool `json:"removed,omitempty"`
}

// DamagedPath is a file or directory of a snapshot that cannot be restored intact.
type DamagedPath struct {
	Snapshot     ID        `json:"snapshot"`
	SnapshotTime time.Time `json:"snapshot_time"`
	Source       string    `json:"source"`
	Path         string    `json:"path"`
	Reason       string    `json:"reason"`
}

func (d DamagedPath) String() string {
	return fmt.Sprintf("snapshot %s (%s, %s): %s: %s", d.Snapshot.Short(), d.Source, d.SnapshotTime.Local().Format("2006-01-02 15:04"), d.Path, d.Reason)
}

// OK reports whether the check found nothing wrong.
func (c *CheckReport) OK() bool { return len(c.Problems) == 0 && len(c.Damaged) == 0 }

// Check verifies the repository: every index file and snapshot reads, every indexed pack exists with
// the size the index says, every tree reads, and every chunk a file needs is indexed in an existing
// pack; with ReadData it also reads packs and verifies every blob. Damage is mapped to the snapshots
// and paths it affects. Packs in no index and temporary files left in the backend are listed too
// (and old temporary files removed with RemoveTemps). The error is for a check that could not run;
// findings are in the report.
func (r *Repository) Check(ctx context.Context, opts CheckOptions) (*CheckReport, error) {
	start := time.Now()
	lock, err := r.Lock(ctx, false, "check")
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	rep := &CheckReport{}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }

	// A fresh index, so that damaged index files are seen rather than skipped as already loaded.
	ix := newIndex()
	indexIDs, err := r.listIDs(ctx, indexPrefix)
	if err != nil {
		return nil, err
	}
	for _, id := range indexIDs {
		packs, err := r.loadIndexFile(ctx, id)
		if err != nil {
			problem("index file %s: %v", id.Short(), err)
			continue
		}
		for _, p := range packs {
			ix.addPack(p.id, int(p.size), p.entries)
		}
	}
	rep.Blobs = ix.Len()

	stored := map[ID]int64{}
	if err := r.be.List(ctx, dataPrefix, func(fi storageInfo) error {
		if id, err := ParseID(fi.Name[strings.LastIndexByte(fi.Name, '/')+1:]); err == nil {
			stored[id] = fi.Size
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	badBlobs := map[ID]string{} // blob → why it cannot be read
	packBlobs := map[ID][]PackedBlob{}
	ix.Each(func(pb PackedBlob) { packBlobs[pb.Pack] = append(packBlobs[pb.Pack], pb) })
	indexed := ix.Packs()
	rep.Packs = len(indexed)
	for id, size := range indexed {
		got, ok := stored[id]
		switch {
		case !ok:
			problem("pack %s is missing (%d blobs in it)", id.Short(), len(packBlobs[id]))
			for _, pb := range packBlobs[id] {
				badBlobs[pb.ID] = "its pack " + id.Short() + " is missing"
			}
		case got != size:
			problem("pack %s is %d bytes, the index says %d (truncated or replaced)", id.Short(), got, size)
			for _, pb := range packBlobs[id] {
				if int64(pb.Offset)+int64(pb.Length) > got {
					badBlobs[pb.ID] = fmt.Sprintf("its pack %s is truncated", id.Short())
				}
			}
		}
	}
	for id := range stored {
		if _, ok := indexed[id]; !ok {
			rep.Unreferenced = append(rep.Unreferenced, id.Short())
		}
	}
	sort.Strings(rep.Unreferenced)
	if err := r.checkTemps(ctx, opts.RemoveTemps, time.Now(), rep); err != nil {
		return nil, err
	}

	if opts.ReadData {
		r.readPacks(ctx, ix, stored, packBlobs, opts, rep, badBlobs)
	}

	// Walk every snapshot, naming each path that needs a missing or damaged blob.
	snapIDs, err := r.listIDs(ctx, snapshotsPrefix)
	if err != nil {
		return nil, err
	}
	trees := map[ID]bool{}
	for _, sid := range snapIDs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := r.loadFile(ctx, snapshotsPrefix+sid.String())
		if err != nil {
			if isNotFound(err) {
				continue
			}
			problem("snapshot %s: %v", sid.Short(), err)
			continue
		}
		sn, err := decodeSnapshot(sid, b)
		if err != nil {
			problem("%v", err)
			continue
		}
		rep.Snapshots++
		c := checker{r: r, ix: ix, bad: badBlobs, trees: trees, sn: sn, rep: rep}
		c.tree(ctx, sn.Tree, "/")
	}
	rep.Trees = len(trees)
	sort.Slice(rep.Damaged, func(i, j int) bool {
		a, b := rep.Damaged[i], rep.Damaged[j]
		if !a.SnapshotTime.Equal(b.SnapshotTime) {
			return a.SnapshotTime.Before(b.SnapshotTime)
		}
		return a.Path < b.Path
	})
	rep.Duration = time.Since(start)
	return rep, ctx.Err()
}

// checkTemps lists the backend's temporary files into rep and, with remove, deletes those last
// written to more than lockStale before now.
func (r *Repository) checkTemps(ctx context.Context, remove bool, now time.Time, rep *CheckReport) error {
	tl, ok := r.be.(storage.TempLister)
	if !ok {
		return nil
	}
	if err := tl.Temps(ctx, func(ti storage.TempInfo) error {
		rep.TempFiles = append(rep.TempFiles, TempFile{Name: ti.Name, Size: ti.Size, ModTime: ti.ModTime})
		return nil
	}); err != nil {
		return fmt.Errorf("list temporary files: %w", err)
	}
	sort.Slice(rep.TempFiles, func(i, j int) bool { return rep.TempFiles[i].Name < rep.TempFiles[j].Name })
	if !remove {
		return nil
	}
	for i := range rep.TempFiles {
		tf := &rep.TempFiles[i]
		if now.Sub(tf.ModTime) <= lockStale {
			continue
		}
		if err := tl.RemoveTemp(ctx, tf.Name); err != nil {
			return fmt.Errorf("remove temporary file: %w", err)
		}
		tf.Removed = true
	}
	return nil
}

type checker struct {
	r     *Repository
	ix    *Index
	bad   map[ID]string
	trees map[ID]bool // trees already checked and found sound, across snapshots
	sn    *Snapshot
	rep   *CheckReport
}

func (c *checker) damaged(path, reason string) {
	c.rep.Damaged = append(c.rep.Damaged, DamagedPath{Snapshot: c.sn.ID, SnapshotTime: c.sn.Time, Source: c.sn.Source, Path: path, Reason: reason})
}

// tree checks a tree and everything under it; it reports whether all of it is sound, so that sound
// subtrees shared by many snapshots are walked once.
func (c *checker) tree(ctx context.Context, id ID, path string) bool {
	if sound, seen := c.trees[id]; seen && sound {
		return true
	}
	if why, bad := c.bad[id]; bad {
		c.damaged(path, "directory listing unreadable: "+why)
		return false
	}
	t, err := c.loadTree(ctx, id)
	if err != nil {
		c.damaged(path, "directory listing unreadable: "+err.Error())
		return false
	}
	sound := true
	for _, n := range t.Nodes {
		p := strings.TrimSuffix(path, "/") + "/" + n.Name
		switch n.Type {
		case NodeDir:
			if !c.tree(ctx, *n.Subtree, p) {
				sound = false
			}
		case NodeFile:
			for i, cid := range n.Content {
				if why, bad := c.bad[cid]; bad {
					c.damaged(p, fmt.Sprintf("chunk %d of %d: %s", i+1, len(n.Content), why))
					sound = false
					break
				}
				if !c.ix.Has(cid) {
					c.damaged(p, fmt.Sprintf("chunk %d of %d is in no index", i+1, len(n.Content)))
					sound = false
					break
				}
			}
		}
	}
	c.trees[id] = sound
	return sound
}

func (c *checker) loadTree(ctx context.Context, id ID) (*Tree, error) {
	pb, ok := c.ix.Lookup(id)
	if !ok {
		return nil, errors.New("not in any index")
	}
	b, err := c.r.fetchBlob(ctx, pb, nil)
	if err != nil {
		return nil, err
	}
	return decodeTree(b)
}

// readPacks downloads the chosen packs and verifies each blob, recording the damaged ones.
func (r *Repository) readPacks(ctx context.Context, ix *Index, stored map[ID]int64, packBlobs map[ID][]PackedBlob, opts CheckOptions, rep *CheckReport, bad map[ID]string) {
	var ids []ID
	for id := range packBlobs {
		if _, ok := stored[id]; ok {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	if p := opts.ReadDataPercent; p > 0 && p < 100 {
		rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		n := max(1, int(float64(len(ids))*p/100+0.5))
		ids = ids[:min(n, len(ids))]
	}
	var mu sync.Mutex
	jobs := make(chan ID)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				found, read, hdrErr := r.verifyPack(ctx, id, stored[id], packBlobs[id])
				mu.Lock()
				if hdrErr != nil {
					rep.Problems = append(rep.Problems, fmt.Sprintf("pack %s: header: %v", id.Short(), hdrErr))
				}
				rep.PacksRead++
				rep.BytesRead += read
				for blob, why := range found {
					bad[blob] = why
				}
				if len(found) > 0 {
					rep.Problems = append(rep.Problems, fmt.Sprintf("pack %s: %d damaged blobs", id.Short(), len(found)))
				}
				done := rep.PacksRead
				mu.Unlock()
				if opts.Progress != nil {
					opts.Progress(done, len(ids))
				}
			}
		}()
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		jobs <- id
	}
	close(jobs)
	wg.Wait()
}

// verifyPack reads a whole pack and returns its damaged blobs with the reason, and whether its
// header (a copy of what the index says, for rebuilding it) is damaged.
func (r *Repository) verifyPack(ctx context.Context, id ID, size int64, want []PackedBlob) (map[ID]string, int64, error) {
	bad := map[ID]string{}
	data, err := r.readRange(ctx, packName(id), 0, size)
	if err != nil {
		for _, pb := range want {
			bad[pb.ID] = fmt.Sprintf("pack %s unreadable: %v", id.Short(), err)
		}
		return bad, 0, nil
	}
	_, hdrErr := parsePack(r.keys, id, data)
	for _, pb := range want {
		end := int64(pb.Offset) + int64(pb.Length)
		if end > int64(len(data)) {
			bad[pb.ID] = fmt.Sprintf("pack %s is truncated", id.Short())
			continue
		}
		if _, err := r.openBlob(pb, data[pb.Offset:end], nil); err != nil {
			msg := err.Error()
			bad[pb.ID] = fmt.Sprintf("damaged in pack %s (%s)", id.Short(), msg[strings.LastIndex(msg, ": ")+2:])
		}
	}
	return bad, int64(len(data)), hdrErr
}

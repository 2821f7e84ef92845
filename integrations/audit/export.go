package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// Export formats.
const (
	// FormatJSONL writes each entry in its canonical JSON, as it was signed and stored, signature
	// included, one per line: an exported entry can still be checked against its hash and
	// signature.
	FormatJSONL = "jsonl"
	// FormatCSV writes a header and one row per entry, Details as a JSON object. Cells that a
	// spreadsheet would take for a formula (starting with =, +, -, @, tab or carriage return) get a
	// leading apostrophe.
	FormatCSV = "csv"
)

// Formats lists the export formats, for help texts and errors.
var Formats = []string{FormatJSONL, FormatCSV}

// csvHeader names the CSV columns.
var csvHeader = []string{"seq", "time", "kind", "actor", "channel", "verified", "workflow", "run", "subject", "details",
	"id", "prev", "key_id", "hash", "sig"}

// Export writes the entries of the ledger under prefix ("" for DefaultPrefix) whose Time is at
// or after since, in the order of their numbers, to w in format (FormatJSONL or FormatCSV), and
// returns how many it wrote. It does not verify them (see Verify), but fails on an entry that is not
// valid ledger JSON rather than leave it out silently.
func Export(ctx context.Context, backend storage.Backend, prefix string, since time.Time, format string, w io.Writer) (int, error) {
	if !slices.Contains(Formats, format) {
		return 0, fmt.Errorf("audit: export: format %q: use one of %s", format, strings.Join(Formats, ", "))
	}
	prefix, err := CleanPrefix(prefix)
	if err != nil {
		return 0, err
	}
	location := where(backend, prefix)
	var seqs []uint64
	err = backend.List(ctx, prefix+"entries/", func(info storage.Info) error {
		if seq, ok := seqOf(prefix, info.Name); ok {
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit: export %s: %w", location, err)
	}
	slices.Sort(seqs)

	var cw *csv.Writer
	if format == FormatCSV {
		cw = csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return 0, fmt.Errorf("audit: export: %w", err)
		}
	}
	n := 0
	err = readInOrder(ctx, backend, prefix, seqs, func(seq uint64, raw []byte, err error) error {
		if errors.Is(err, storage.ErrNotFound) {
			return nil // removed since the listing; Verify reports it
		}
		if err != nil {
			return fmt.Errorf("audit: export %s: entry %d: %w", location, seq, err)
		}
		e, err := decodeEntry(raw)
		if err != nil {
			return fmt.Errorf("audit: export %s: entry %d is not valid (%v): run `lifeboat audit verify`", location, seq, err)
		}
		if e.Time.Before(since) {
			return nil
		}
		if cw != nil {
			err = cw.Write(csvRow(e))
		} else {
			var line []byte
			if line, err = e.encode(); err == nil {
				_, err = w.Write(line)
			}
		}
		if err != nil {
			return fmt.Errorf("audit: export: %w", err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, fmt.Errorf("audit: export: %w", err)
		}
	}
	return n, nil
}

func csvRow(e Entry) []string {
	details := ""
	if len(e.Details) > 0 {
		b, _ := json.Marshal(e.Details) // a map of strings always encodes
		details = string(b)
	}
	row := []string{strconv.FormatUint(e.Seq, 10), e.Time.Format(time.RFC3339Nano), e.Kind, e.Actor, e.Channel,
		strconv.FormatBool(e.Verified), e.Workflow, e.Run, e.Subject, details, e.ID, e.Prev, e.KeyID, e.Hash, e.Sig}
	for i, cell := range row {
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			row[i] = "'" + cell
		}
	}
	return row
}

package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// DefaultPrefix is the folder of the backend the records live in when none is given.
const DefaultPrefix = "evidence/"

// nameTime is the layout of a record name's time: sortable, and free of characters storage names
// may not hold.
const nameTime = "20060102T150405Z"

// suffix ends every record's name.
const suffix = ".dsse.json"

// ErrConflict is returned (wrapped) by Write when a record of the same name, with other contents,
// is stored already. Retrying does not help.
var ErrConflict = errors.New("a different evidence record of that name exists")

// Config says where records live and who signs them.
type Config struct {
	// Backend stores the records.
	Backend storage.Backend
	// Prefix is the folder within the backend (default DefaultPrefix).
	Prefix string
	// Signer signs what Write stores; nil for a store that is only read and pruned.
	Signer *audit.Signer
}

// Store writes, lists, reads and prunes signed evidence records. One object per record, created
// with storage.Backend.Create, so a record is never overwritten.
type Store struct {
	backend storage.Backend
	prefix  string
	signer  *audit.Signer
}

// New returns a store; it does not contact the backend.
func New(cfg Config) (*Store, error) {
	if cfg.Backend == nil {
		return nil, errors.New("evidence: no backend to keep records in")
	}
	prefix := DefaultPrefix
	if cfg.Prefix != "" {
		if err := CheckPrefix(cfg.Prefix); err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
		prefix, _ = audit.CleanPrefix(cfg.Prefix)
	}
	return &Store{backend: cfg.Backend, prefix: prefix, signer: cfg.Signer}, nil
}

// CheckPrefix reports whether prefix is a folder a store can use.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	_, err := audit.CleanPrefix(prefix)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "audit: "))
	}
	return nil
}

// Location names the store in messages: the backend's location and the prefix.
func (s *Store) Location() string {
	return strings.TrimSuffix(s.backend.Location(), "/") + "/" + strings.TrimSuffix(s.prefix, "/")
}

// Listed is a stored record as its name describes it.
type Listed struct {
	// ID names the record in the store: its object name without the prefix and suffix.
	ID string `json:"id"`
	// Time is the run's start, to the second.
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Run     string    `json:"run"`
	Size    int64     `json:"size"`
}

// ID returns the ID a record is stored under: its start time, kind, subject and run, so that
// listing by name lists by time, and a retried write of the same run's record finds it.
func ID(rec Record) string {
	return rec.StartedAt.UTC().Format(nameTime) + "_" + rec.Kind + "_" + escape(rec.Subject) + "_" + escape(rec.Run)
}

// ParseID returns what a record's ID says, and false for a string that is no record ID.
func ParseID(id string) (Listed, bool) {
	parts := strings.Split(id, "_")
	if len(parts) != 4 || !slices.Contains(Kinds, parts[1]) {
		return Listed{}, false
	}
	t, err := time.Parse(nameTime, parts[0])
	if err != nil {
		return Listed{}, false
	}
	subject, err1 := url.PathUnescape(parts[2])
	run, err2 := url.PathUnescape(parts[3])
	if err1 != nil || err2 != nil || subject == "" || run == "" || escape(subject) != parts[2] || escape(run) != parts[3] {
		return Listed{}, false
	}
	return Listed{ID: id, Time: t, Kind: parts[1], Subject: subject, Run: run}, true
}

// escape keeps letters, digits, "." and "-", and percent-encodes every other byte, so that "_"
// separates the parts of an ID and no part is "." or "..".
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || (c == '.' && s != "." && s != "..") {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func (s *Store) name(id string) string { return s.prefix + id + suffix }

// Write signs rec and stores it under ID(rec), unless a record of that name exists. A record of
// that name with the same payload is this write's own, from an earlier attempt: Write returns
// existed true. One with another payload is an error wrapping ErrConflict, and stays as it was.
func (s *Store) Write(ctx context.Context, rec Record) (id string, existed bool, err error) {
	if s.signer == nil {
		return "", false, errors.New("evidence: no signing key: configure evidence.signing_key")
	}
	if err := rec.Validate(); err != nil {
		return "", false, err
	}
	data, err := Seal(rec, s.signer)
	if err != nil {
		return "", false, err
	}
	id = ID(rec)
	name := s.name(id)
	err = s.backend.Create(ctx, name, bytes.NewReader(data), int64(len(data)))
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, storage.ErrExists) {
		return "", false, fmt.Errorf("evidence: write %s: %w", name, err)
	}
	stored, err := storage.ReadAll(ctx, s.backend, name)
	if err != nil {
		return "", false, fmt.Errorf("evidence: read existing %s: %w", name, err)
	}
	var env Envelope
	if json.Unmarshal(stored, &env) == nil {
		if body, err := base64.StdEncoding.DecodeString(env.Payload); err == nil {
			if mine, _ := json.Marshal(rec); bytes.Equal(body, mine) {
				return id, true, nil
			}
		}
	}
	return "", false, fmt.Errorf("evidence: %s: %w", name, ErrConflict)
}

// Filter selects records by what their names say. Zero fields select everything.
type Filter struct {
	Kind    string
	Subject string
	// Since and Until bound the start time: Since <= time < Until.
	Since, Until time.Time
}

func (f Filter) match(l Listed) bool {
	return (f.Kind == "" || f.Kind == l.Kind) && (f.Subject == "" || f.Subject == l.Subject) &&
		(f.Since.IsZero() || !l.Time.Before(f.Since)) && (f.Until.IsZero() || l.Time.Before(f.Until))
}

// List returns the records f selects, oldest first. Objects under the prefix that are not records
// are left out.
func (s *Store) List(ctx context.Context, f Filter) ([]Listed, error) {
	var out []Listed
	err := s.backend.List(ctx, s.prefix, func(info storage.Info) error {
		rest, ok := strings.CutPrefix(info.Name, s.prefix)
		if !ok {
			return nil
		}
		id, ok := strings.CutSuffix(rest, suffix)
		if !ok {
			return nil
		}
		l, ok := ParseID(id)
		if !ok || !f.match(l) {
			return nil
		}
		l.Size = info.Size
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("evidence: list %s: %w", s.Location(), err)
	}
	slices.SortFunc(out, func(a, b Listed) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Read returns the stored envelope of the record id, unverified; an error wrapping
// storage.ErrNotFound when there is none.
func (s *Store) Read(ctx context.Context, id string) ([]byte, error) {
	if _, ok := ParseID(id); !ok {
		return nil, fmt.Errorf("evidence: %q is not a record ID (lifeboat evidence list shows them)", id)
	}
	b, err := storage.ReadAll(ctx, s.backend, s.name(id))
	if err != nil {
		return nil, fmt.Errorf("evidence: record %s: %w", id, err)
	}
	return b, nil
}

// Verified is a record read and verified.
type Verified struct {
	Listed
	Record Record
	// KeyID is the key that verified it.
	KeyID string
}

// Verify reads the record id and checks its signature with keys, and that its contents match
// the name it is stored under (a record copied under another run's name does not verify). Errors
// name the record and wrap ErrUnverified for a record that was changed or forged.
func (s *Store) Verify(ctx context.Context, id string, keys map[string]ed25519.PublicKey) (Verified, error) {
	l, _ := ParseID(id)
	data, err := s.Read(ctx, id)
	if err != nil {
		return Verified{}, err
	}
	rec, keyID, err := Open(data, keys)
	if err != nil {
		return Verified{}, fmt.Errorf("evidence: record %s: %w", id, err)
	}
	if ID(rec) != id {
		return Verified{}, fmt.Errorf("evidence: record %s: %w: its contents are those of record %s", id, ErrUnverified, ID(rec))
	}
	l.Size = int64(len(data))
	return Verified{Listed: l, Record: rec, KeyID: keyID}, nil
}

// Retention says how long records are kept: every record younger than Days days, and at least
// the Last newest records of each kind and subject, whatever their age.
type Retention struct {
	Days int `json:"days" yaml:"days"`
	Last int `json:"last" yaml:"last"`
}

// Expired returns the records of list (as List returns them) that r lets go as of now, oldest
// first.
func (r Retention) Expired(list []Listed, now time.Time) []Listed {
	if r.Days <= 0 {
		return nil
	}
	cutoff := now.Add(-time.Duration(r.Days) * 24 * time.Hour)
	newer := map[string]int{} // records seen so far, newest first, by kind and subject
	var out []Listed
	for i := len(list) - 1; i >= 0; i-- {
		l := list[i]
		key := l.Kind + "\x00" + l.Subject
		newer[key]++
		if newer[key] <= r.Last || !l.Time.Before(cutoff) {
			continue
		}
		out = append(out, l)
	}
	slices.Reverse(out)
	return out
}

// Prune deletes the records r lets go as of now, oldest first, and returns those it deleted. It
// touches nothing but records under the store's prefix; a failure stops it, and the records it had
// not reached stay as they were. With r.Days zero it deletes nothing and says so.
func (s *Store) Prune(ctx context.Context, r Retention, now time.Time) ([]Listed, error) {
	if r.Days <= 0 {
		return nil, errors.New("evidence: no retention configured (evidence.retention.days): nothing pruned")
	}
	list, err := s.List(ctx, Filter{})
	if err != nil {
		return nil, err
	}
	var deleted []Listed
	for _, l := range r.Expired(list, now) {
		if err := s.backend.Delete(ctx, s.name(l.ID)); err != nil {
			return deleted, fmt.Errorf("evidence: prune %s: %w (%d deleted before it)", l.ID, err, len(deleted))
		}
		deleted = append(deleted, l)
	}
	return deleted, nil
}

package repository

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/lifeboat-dr/lifeboat/integrations/storage"
)

// Credentials open a repository: a passphrase, a key file's content, or both (either may match).
type Credentials struct {
	Passphrase string
	// KeyFile is the content of a key file made by GenerateKeyFile.
	KeyFile []byte
}

func (c Credentials) empty() bool { return c.Passphrase == "" && len(c.KeyFile) == 0 }

// KDF parameters for new passphrase slots: argon2id with 24 MiB and 4 passes (above OWASP's
// recommended minimum of 19 MiB and 2 passes), about 0.1 s here. Each slot records its own
// parameters, so stronger ones can be used without a format change.
var defaultArgon = argonParams{Time: 4, MemoryKiB: 24 << 10, Threads: 2}

type argonParams struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// KeySlot is one way into a repository: the master key wrapped under a key derived from a passphrase
// or a key file. It is stored, unencrypted, as keys/<id>.
type KeySlot struct {
	ID       ID           `json:"-"`
	Version  int          `json:"version"`
	Kind     string       `json:"kind"` // "passphrase" or "keyfile"
	Label    string       `json:"label,omitempty"`
	Created  time.Time    `json:"created"`
	Hostname string       `json:"hostname,omitempty"`
	Username string       `json:"username,omitempty"`
	Argon    *argonParams `json:"argon2id,omitempty"`
	Salt     []byte       `json:"salt"`
	Wrapped  []byte       `json:"wrapped"`
}

const (
	slotPassphrase = "passphrase"
	slotKeyFile    = "keyfile"
	keyFileHeader  = "lifeboat repository key file v1\n"
)

// GenerateKeyFile returns the content of a new key file: a header line and 32 random bytes in base64.
func GenerateKeyFile() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return []byte(keyFileHeader + base64.StdEncoding.EncodeToString(b) + "\n")
}

func parseKeyFile(content []byte) ([]byte, error) {
	s, ok := strings.CutPrefix(string(content), keyFileHeader)
	if !ok {
		return nil, errors.New("not a lifeboat key file (missing its first line)")
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, errors.New("key file is damaged: want 32 bytes of base64 after the first line")
	}
	return b, nil
}

// kek derives the key-encryption key for a slot from the credentials, or reports that these
// credentials cannot open this kind of slot.
func (s *KeySlot) kek(c Credentials) ([]byte, bool, error) {
	switch s.Kind {
	case slotPassphrase:
		if c.Passphrase == "" || s.Argon == nil {
			return nil, false, nil
		}
		if s.Argon.MemoryKiB > 4<<20 || s.Argon.Time > 100 || s.Argon.Threads == 0 {
			return nil, false, fmt.Errorf("key slot %s: implausible argon2id parameters %+v", s.ID.Short(), *s.Argon)
		}
		kek := argon2.IDKey([]byte(c.Passphrase), s.Salt, s.Argon.Time, s.Argon.MemoryKiB, s.Argon.Threads, 32)
		// Hand the KDF's memory back to the OS now rather than carrying it through a long backup.
		debug.FreeOSMemory()
		return kek, true, nil
	case slotKeyFile:
		if len(c.KeyFile) == 0 {
			return nil, false, nil
		}
		secret, err := parseKeyFile(c.KeyFile)
		if err != nil {
			return nil, false, err
		}
		k, err := hkdf.Key(sha256.New, secret, s.Salt, "lifeboat key file v1", 32)
		return k, err == nil, err
	}
	return nil, false, nil
}

func slotAEAD(kek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

var slotAAD = []byte("lifeboat key slot v1")

// newSlot wraps master under credentials (a passphrase or a key file, not both).
func newSlot(master []byte, c Credentials, label string) (*KeySlot, error) {
	s := &KeySlot{ID: randomID(), Version: 1, Label: label, Created: time.Now().UTC(), Salt: make([]byte, 16)}
	_, _ = rand.Read(s.Salt)
	s.Hostname, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		s.Username = u.Username
	}
	switch {
	case c.Passphrase != "" && len(c.KeyFile) > 0:
		return nil, errors.New("a key slot takes a passphrase or a key file, not both")
	case c.Passphrase != "":
		s.Kind = slotPassphrase
		p := defaultArgon
		s.Argon = &p
	case len(c.KeyFile) > 0:
		s.Kind = slotKeyFile
	default:
		return nil, errors.New("a key slot needs a passphrase or a key file")
	}
	kek, _, err := s.kek(c)
	if err != nil {
		return nil, err
	}
	aead, err := slotAEAD(kek)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	s.Wrapped = aead.Seal(nonce, nonce, master, slotAAD)
	return s, nil
}

// unwrap returns the master key if c opens the slot.
func (s *KeySlot) unwrap(c Credentials) ([]byte, bool, error) {
	kek, applies, err := s.kek(c)
	if err != nil || !applies {
		return nil, false, err
	}
	aead, err := slotAEAD(kek)
	if err != nil {
		return nil, false, err
	}
	if len(s.Wrapped) < 12+16 {
		return nil, false, fmt.Errorf("key slot %s is truncated", s.ID.Short())
	}
	master, err := aead.Open(nil, s.Wrapped[:12], s.Wrapped[12:], slotAAD)
	if err != nil {
		return nil, false, nil // not this slot's passphrase
	}
	return master, true, nil
}

func saveSlot(ctx context.Context, be storage.Backend, s *KeySlot) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return createBytes(ctx, be, keysPrefix+s.ID.String(), b)
}

func loadSlots(ctx context.Context, be storage.Backend) ([]*KeySlot, error) {
	var slots []*KeySlot
	err := be.List(ctx, keysPrefix, func(fi storage.Info) error {
		id, err := ParseID(strings.TrimPrefix(fi.Name, keysPrefix))
		if err != nil {
			return nil // not ours
		}
		b, err := storage.ReadAll(ctx, be, fi.Name)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return nil // removed since listed: a racing init's slot, or a revoked one
			}
			return fmt.Errorf("read key slot %s: %w", id.Short(), err)
		}
		var s KeySlot
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: key slot %s: %v", ErrCorrupt, id.Short(), err)
		}
		s.ID = id
		slots = append(slots, &s)
		return nil
	})
	return slots, err
}

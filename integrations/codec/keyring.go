package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// Key is one named encryption key.
type Key struct {
	// ID is stored in every payload the key encrypts; it must never be reused for another key.
	ID string
	// Secret is the 32-byte key.
	Secret []byte
}

// Keyring holds the key new payloads are encrypted with and every key old payloads may need.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// NewKeyring builds a keyring that encrypts with the key named active and decrypts with any of keys.
func NewKeyring(active string, keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: no keys")
	}
	kr := &Keyring{active: active, aeads: make(map[string]cipher.AEAD, len(keys))}
	var errs []error
	for _, k := range keys {
		if !keyIDPattern.MatchString(k.ID) {
			errs = append(errs, fmt.Errorf("codec: key id %q: use 1-64 letters, digits, '.', '_' or '-'", k.ID))
			continue
		}
		if _, dup := kr.aeads[k.ID]; dup {
			errs = append(errs, fmt.Errorf("codec: key id %q appears twice", k.ID))
			continue
		}
		if len(k.Secret) != KeySize {
			errs = append(errs, fmt.Errorf("codec: key %q is %d bytes, want %d", k.ID, len(k.Secret), KeySize))
			continue
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			errs = append(errs, fmt.Errorf("codec: key %q: %w", k.ID, err))
			continue
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			errs = append(errs, fmt.Errorf("codec: key %q: %w", k.ID, err))
			continue
		}
		kr.aeads[k.ID] = aead
	}
	if _, ok := kr.aeads[active]; !ok && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("codec: active key %q is not among the keys", active))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return kr, nil
}

// ActiveID is the id of the key new payloads are encrypted with.
func (k *Keyring) ActiveID() string { return k.active }

// ParseKey decodes a key written as base64 (standard or URL alphabet, padded or not) or as 64 hex
// digits. Surrounding white space is ignored, so key files may end with a newline.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, fmt.Errorf("key is not %d bytes in base64 or hex (generate one with `openssl rand -base64 32` or `lifeboat key generate`)", KeySize)
}

// GenerateKey returns a new random key, base64-encoded.
func GenerateKey() string {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.StdEncoding.EncodeToString(b)
}

package repository

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/zeebo/blake3"
)

// masterKeySize is the size of a repository's master key; every other key is derived from it.
const masterKeySize = 32

// keys are the subkeys derived from the master key with HKDF-SHA256.
type keys struct {
	aead    cipher.AEAD // seals every blob and file (AES-256-GCM)
	idKey   []byte      // keys the BLAKE3 hash that names blobs
	chunker []byte      // seeds the chunker's gear table
	hashers sync.Pool
}

func deriveKeys(master []byte) (*keys, error) {
	if len(master) != masterKeySize {
		return nil, fmt.Errorf("master key is %d bytes, want %d", len(master), masterKeySize)
	}
	derive := func(info string) ([]byte, error) {
		return hkdf.Key(sha256.New, master, nil, "lifeboat repository v1 "+info, 32)
	}
	dataKey, err := derive("data")
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(dataKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &keys{aead: aead}
	if k.idKey, err = derive("id"); err != nil {
		return nil, err
	}
	if k.chunker, err = derive("chunker"); err != nil {
		return nil, err
	}
	k.hashers.New = func() any {
		h, err := blake3.NewKeyed(k.idKey)
		if err != nil {
			panic(err) // only for a key of the wrong size, which derive never returns
		}
		return h
	}
	return k, nil
}

// blobID names data: its BLAKE3 hash keyed with the repository's id key, so names reveal nothing
// about content to anyone without the key.
func (k *keys) blobID(data []byte) ID {
	h := k.hashers.Get().(*blake3.Hasher)
	h.Reset()
	_, _ = h.Write(data)
	var id ID
	h.Sum(id[:0])
	k.hashers.Put(h)
	return id
}

// sealOverhead is what sealing adds: the nonce and the tag.
const sealOverhead = 12 + 16

// seal appends nonce || AES-256-GCM(plain, aad) to dst.
func (k *keys) seal(dst, plain, aad []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, 12)...)
	_, _ = rand.Read(dst[start:])
	return k.aead.Seal(dst, dst[start:start+12], plain, aad)
}

// open authenticates and decrypts sealed into dst. Any failure is ErrCorrupt.
func (k *keys) open(dst, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("%w: sealed data of %d bytes is truncated", ErrCorrupt, len(sealed))
	}
	out, err := k.aead.Open(dst, sealed[:12], sealed[12:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	return out, nil
}

// blobAAD binds a sealed blob to its type and ID, so a blob cannot be swapped for another.
func blobAAD(t BlobType, id ID) []byte {
	aad := make([]byte, 0, 33)
	aad = append(aad, byte(t))
	return append(aad, id[:]...)
}

// fileAAD binds a sealed repository file to its kind and name.
func fileAAD(name string) []byte { return []byte("lifeboat file " + name) }

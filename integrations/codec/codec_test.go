package codec

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func mustKeyring(t *testing.T, active string, ids ...string) *Keyring {
	t.Helper()
	var keys []Key
	for _, id := range ids {
		secret, err := ParseKey(GenerateKey())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	kr, err := NewKeyring(active, keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func plainPayload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripHidesContent(t *testing.T) {
	c := New(mustKeyring(t, "k1", "k1"))
	in := plainPayload(t, map[string]string{"dsn_secret": "orders-primary"})
	enc, err := c.Encode([]*commonpb.Payload{in})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc[0].Data, []byte("orders-primary")) {
		t.Fatal("encrypted payload contains the plaintext")
	}
	if got := string(enc[0].Metadata[MetadataKeyID]); got != "k1" {
		t.Fatalf("key id metadata = %q", got)
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec[0].Data, in.Data) || string(dec[0].Metadata[MetadataEncoding]) != "json/plain" {
		t.Fatalf("decoded %v, want %v", dec[0], in)
	}
}

func TestRotationKeepsOldPayloadsReadable(t *testing.T) {
	oldKey := Key{ID: "2026-01", Secret: make([]byte, KeySize)}
	newKey := Key{ID: "2026-06", Secret: bytes.Repeat([]byte{7}, KeySize)}
	before, err := NewKeyring(oldKey.ID, []Key{oldKey})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := New(before).Encode([]*commonpb.Payload{plainPayload(t, "before rotation")})
	if err != nil {
		t.Fatal(err)
	}
	// After rotation the new key encrypts and the old one still decrypts.
	after, err := NewKeyring(newKey.ID, []Key{newKey, oldKey})
	if err != nil {
		t.Fatal(err)
	}
	c := New(after)
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatalf("old payload unreadable after rotation: %v", err)
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &s); err != nil || s != "before rotation" {
		t.Fatalf("decoded %q, %v", s, err)
	}
	fresh, err := c.Encode([]*commonpb.Payload{plainPayload(t, "after")})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(fresh[0].Metadata[MetadataKeyID]); got != newKey.ID {
		t.Fatalf("new payloads use key %q, want the active key", got)
	}
}

func TestDecodePassesPlainPayloadsThrough(t *testing.T) {
	c := New(mustKeyring(t, "k1", "k1"))
	plain := plainPayload(t, map[string]any{"target": "from the temporal CLI"})
	dec, err := c.Decode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if dec[0] != plain {
		t.Fatal("plain payload was changed")
	}
}

func TestDecodeErrors(t *testing.T) {
	c := New(mustKeyring(t, "k1", "k1"))
	enc, err := c.Encode([]*commonpb.Payload{plainPayload(t, "secret")})
	if err != nil {
		t.Fatal(err)
	}
	clone := func(mut func(p *commonpb.Payload)) []*commonpb.Payload {
		p := &commonpb.Payload{Metadata: map[string][]byte{}, Data: bytes.Clone(enc[0].Data)}
		for k, v := range enc[0].Metadata {
			p.Metadata[k] = v
		}
		mut(p)
		return []*commonpb.Payload{p}
	}
	tests := []struct {
		name string
		in   []*commonpb.Payload
		want string
	}{
		{"unknown key", clone(func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte("gone") }), `key "gone", which this process does not have`},
		{"flipped byte", clone(func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 1 }), "failed authentication"},
		{"truncated", clone(func(p *commonpb.Payload) { p.Data = p.Data[:10] }), "truncated"},
		{"other cipher", clone(func(p *commonpb.Payload) { p.Metadata[MetadataCipher] = []byte("ROT13") }), `cipher "ROT13"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Decode(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("relabelled to another key", func(t *testing.T) {
		two := mustKeyring(t, "a", "a", "b")
		enc, _ := New(two).Encode([]*commonpb.Payload{plainPayload(t, "x")})
		enc[0].Metadata[MetadataKeyID] = []byte("b")
		if _, err := New(two).Decode(enc); err == nil || !strings.Contains(err.Error(), "failed authentication") {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestNewKeyringReportsEveryProblem(t *testing.T) {
	_, err := NewKeyring("missing", []Key{
		{ID: "short", Secret: []byte("too short")},
		{ID: "bad id!", Secret: make([]byte, 32)},
		{ID: "ok", Secret: make([]byte, 32)},
		{ID: "ok", Secret: make([]byte, 32)},
	})
	for _, want := range []string{`key "short" is 9 bytes`, `key id "bad id!"`, `"ok" appears twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	if _, err := NewKeyring("x", []Key{{ID: "y", Secret: make([]byte, 32)}}); err == nil || !strings.Contains(err.Error(), `active key "x"`) {
		t.Errorf("missing active key: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	k := GenerateKey()
	if _, err := ParseKey(k + "\n"); err != nil {
		t.Fatalf("base64 with newline: %v", err)
	}
	if _, err := ParseKey(strings.Repeat("ab", 32)); err != nil {
		t.Fatalf("hex: %v", err)
	}
	if _, err := ParseKey("c2hvcnQ="); err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") {
		t.Fatalf("short key error = %v", err)
	}
}

func TestHandlerSpeaksTheRemoteCodecProtocol(t *testing.T) {
	c := New(mustKeyring(t, "k1", "k1"))
	var seen []string
	h := NewHandler(c, HandlerOptions{
		Tokens:       []string{"s3cret"},
		AllowOrigins: []string{"http://localhost:8233"},
		Observe:      func(op, outcome string) { seen = append(seen, op+":"+outcome) },
	})
	mux := http.NewServeMux()
	mux.Handle("/codec/", http.StripPrefix("/codec", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The SDK's own remote codec (as used by `temporal --codec-endpoint --codec-auth`) with a header.
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: srv.URL + "/codec",
		ModifyRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer s3cret")
			return nil
		},
	})
	in := plainPayload(t, "hello")
	enc, err := remote.Encode([]*commonpb.Payload{in})
	if err != nil {
		t.Fatal(err)
	}
	if string(enc[0].Metadata[MetadataEncoding]) != EncodingEncrypted {
		t.Fatalf("remote encode did not encrypt: %v", enc[0].Metadata)
	}
	// The token as a path segment, as the Web UI is configured.
	byPath := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL + "/codec/s3cret"})
	dec, err := byPath.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec[0].Data, in.Data) {
		t.Fatalf("decoded %q", dec[0].Data)
	}
	noToken := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL + "/codec"})
	if _, err := noToken.Decode(enc); err == nil {
		t.Fatal("decode without a token succeeded")
	}
	want := []string{"encode:ok", "decode:ok", "decode:unauthorized"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("observed %v, want %v", seen, want)
	}
}

func TestHandlerCORS(t *testing.T) {
	h := NewHandler(New(mustKeyring(t, "k1", "k1")), HandlerOptions{AllowOrigins: []string{"http://localhost:8233"}})
	tests := []struct {
		name, method, origin string
		wantStatus           int
		wantAllowOrigin      string
	}{
		{"preflight from the UI", http.MethodOptions, "http://localhost:8233", http.StatusNoContent, "http://localhost:8233"},
		{"preflight from elsewhere", http.MethodOptions, "http://evil.example", http.StatusForbidden, ""},
		{"post from elsewhere", http.MethodPost, "http://evil.example", http.StatusForbidden, ""},
		{"get", http.MethodGet, "", http.StatusMethodNotAllowed, ""},
		{"post without body is a bad request", http.MethodPost, "http://localhost:8233", http.StatusBadRequest, "http://localhost:8233"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/decode", strings.NewReader("not json"))
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tt.wantAllowOrigin {
				t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantAllowOrigin)
			}
		})
	}
	t.Run("oversized body", func(t *testing.T) {
		small := NewHandler(New(mustKeyring(t, "k1", "k1")), HandlerOptions{MaxBodyBytes: 16})
		rec := httptest.NewRecorder()
		small.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/decode", strings.NewReader(`{"payloads":[{"data":"aGVsbG8gd29ybGQ="}]}`)))
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("status = %d", rec.Code)
		}
	})
}

package oidcexchange

import (
	"encoding/base64"
	"encoding/json"
)

func jsonSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func segment(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

package awsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// credentialScope is what the Authorization header's Credential names.
type credentialScope struct {
	accessKey, date, region, service string
}

// authorization is a parsed "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…" header.
type authorization struct {
	scope         credentialScope
	signedHeaders []string
	signature     string
}

const sigV4Algorithm = "AWS4-HMAC-SHA256"

var errMissingAuth = errors.New("request is missing an Authorization header")

// parseAuthorization checks the header's shape and returns its parts. It returns the scope it could
// read even on error, so the caller can answer in the right service's error format.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	if h == "" {
		return a, errMissingAuth
	}
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return a, errors.New("authorization header does not use " + sigV4Algorithm)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errors.New("authorization header component " + strconv.Quote(part) + " is not key=value")
		}
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) == 5 && cred[4] == "aws4_request" {
		a.scope = credentialScope{accessKey: cred[0], date: cred[1], region: cred[2], service: cred[3]}
	}
	switch {
	case a.scope == credentialScope{}:
		return a, errors.New("authorization header Credential is not access-key/date/region/service/aws4_request")
	case len(a.scope.date) != 8 || strings.Trim(a.scope.date, "0123456789") != "":
		return a, errors.New("credential scope date " + strconv.Quote(a.scope.date) + " is not YYYYMMDD")
	case a.scope.accessKey == "" || a.scope.region == "" || a.scope.service == "":
		return a, errors.New("credential scope has an empty part")
	}
	if fields["SignedHeaders"] == "" {
		return a, errors.New("authorization header has no SignedHeaders")
	}
	a.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	if !sort.StringsAreSorted(a.signedHeaders) {
		return a, errors.New("SignedHeaders are not sorted")
	}
	for _, need := range []string{"host", "x-amz-date"} {
		if !slices.Contains(a.signedHeaders, need) {
			return a, errors.New("SignedHeaders does not include " + need)
		}
	}
	a.signature = fields["Signature"]
	if sig, err := hex.DecodeString(a.signature); err != nil || len(sig) != sha256.Size {
		return a, errors.New("signature is not 64 hex digits")
	}
	return a, nil
}

// verifySignature recomputes the Signature Version 4 signature of r (with its body) using secret
// and reports whether it matches.
func verifySignature(r *http.Request, body []byte, a authorization, secret string) bool {
	amzDate := r.Header.Get("X-Amz-Date")
	if !strings.HasPrefix(amzDate, a.scope.date) {
		return false
	}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canon.WriteString(path + "\n")
	canon.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range a.signedHeaders {
		canon.WriteString(h + ":" + headerValue(r, h) + "\n")
	}
	canon.WriteString("\n" + strings.Join(a.signedHeaders, ";") + "\n")
	canon.WriteString(hexSHA256(body))

	scope := strings.Join([]string{a.scope.date, a.scope.region, a.scope.service, "aws4_request"}, "/")
	stringToSign := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(canon.String()))
	key := hmacSHA256([]byte("AWS4"+secret), a.scope.date)
	key = hmacSHA256(key, a.scope.region)
	key = hmacSHA256(key, a.scope.service)
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	return hmac.Equal([]byte(want), []byte(a.signature))
}

func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if r.Header.Get("Content-Length") == "" {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	}
	values := r.Header.Values(name)
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

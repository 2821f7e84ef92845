package codec

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// HandlerOptions guard the codec endpoint.
type HandlerOptions struct {
	// Tokens are accepted as "Authorization: Bearer <token>" or as the path segment before
	// /encode and /decode (".../codec/<token>/decode"), for callers such as the Web UI that cannot
	// send a header. With no tokens every caller is accepted: keep such an endpoint on loopback.
	Tokens []string
	// AllowOrigins lists the browser origins (such as "http://localhost:8233") allowed to call the
	// endpoint; "*" allows any.
	AllowOrigins []string
	// MaxBodyBytes bounds a request body (default 4 MiB, the size of a Temporal payload batch).
	MaxBodyBytes int64
	// Observe, when set, is told the outcome of each request ("ok", "unauthorized", "forbidden_origin",
	// "bad_request").
	Observe func(op, outcome string)
}

// NewHandler serves POST {prefix}/encode and {prefix}/decode in the protocol of Temporal's remote codec,
// with bearer-token authentication and a CORS allow-list. Mount it with http.StripPrefix or under a
// pattern ending in "/".
func NewHandler(c *Codec, opts HandlerOptions) http.Handler {
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	opts.Tokens = slices.DeleteFunc(slices.Clone(opts.Tokens), func(t string) bool { return t == "" })
	if opts.Observe == nil {
		opts.Observe = func(string, string) {}
	}
	inner := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := "decode"
		if strings.HasSuffix(r.URL.Path, "/encode") {
			op = "encode"
		}
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !originAllowed(opts.AllowOrigins, origin) {
				opts.Observe(op, "forbidden_origin")
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost {
			opts.Observe(op, "bad_request")
			w.Header().Set("Allow", "POST, OPTIONS")
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if !authorized(opts.Tokens, r) {
			opts.Observe(op, "unauthorized")
			w.Header().Set("WWW-Authenticate", `Bearer realm="lifeboat-codec"`)
			http.Error(w, "missing or wrong codec token", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, opts.MaxBodyBytes)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		inner.ServeHTTP(rec, r)
		if rec.status == http.StatusOK {
			opts.Observe(op, "ok")
		} else {
			opts.Observe(op, "bad_request")
		}
	})
}

func originAllowed(allowed []string, origin string) bool {
	return slices.Contains(allowed, "*") || slices.Contains(allowed, origin)
}

func authorized(tokens []string, r *http.Request) bool {
	if len(tokens) == 0 {
		return true
	}
	var given string
	if h := r.Header.Get("Authorization"); h != "" {
		given, _ = strings.CutPrefix(h, "Bearer ")
	} else {
		// ".../<token>/decode": the segment before the operation.
		p := strings.TrimSuffix(strings.TrimSuffix(r.URL.Path, "/encode"), "/decode")
		given = p[strings.LastIndexByte(p, '/')+1:]
	}
	ok := 0
	for _, t := range tokens {
		ok |= subtle.ConstantTimeCompare([]byte(t), []byte(given))
	}
	return ok == 1
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

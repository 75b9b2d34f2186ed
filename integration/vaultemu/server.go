package vaultemu

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures an emulator. The zero value is usable.
type Options struct {
	RootToken    string // default "root"
	TransitMount string // default "transit"
	KVMount      string // default "secret" (KV v2, as in Vault's dev mode)
}

// Server is the emulator. It is an http.Handler; all methods are safe for
// concurrent use.
type Server struct {
	opts Options
	now  func() time.Time

	mu       sync.Mutex
	tokens   map[string]*token
	approles map[string]*appRole // by role_id
	transit  map[string]*transitKey
	kv       map[string]*kvSecret // by path below the mount
	sealed   bool
	failN    int
	failCode int
	latency  time.Duration
	counts   map[string]int
}

// New returns an emulator with the root token and empty mounts.
func New(opts Options) *Server {
	if opts.RootToken == "" {
		opts.RootToken = "root"
	}
	if opts.TransitMount == "" {
		opts.TransitMount = "transit"
	}
	if opts.KVMount == "" {
		opts.KVMount = "secret"
	}
	s := &Server{
		opts:     opts,
		now:      time.Now,
		tokens:   map[string]*token{},
		approles: map[string]*appRole{},
		transit:  map[string]*transitKey{},
		kv:       map[string]*kvSecret{},
		counts:   map[string]int{},
	}
	s.tokens[opts.RootToken] = &token{id: opts.RootToken, policies: []string{"root"}}
	return s
}

// Start serves the emulator on a loopback httptest server; the caller
// closes it. Its URL is the VAULT_ADDR.
func (s *Server) Start() *httptest.Server { return httptest.NewServer(s) }

// StartTLS is Start over TLS; the server's Certificate() is the CA to trust.
// Handshake failures (a client that does not trust it) are not logged.
func (s *Server) StartTLS() *httptest.Server {
	srv := httptest.NewUnstartedServer(s)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv
}

// Seal makes every request answer 503 "Vault is sealed" until Unseal.
func (s *Server) Seal() { s.mu.Lock(); s.sealed = true; s.mu.Unlock() }

// Unseal undoes Seal.
func (s *Server) Unseal() { s.mu.Lock(); s.sealed = false; s.mu.Unlock() }

// FailNext makes the next n requests answer status with an error body.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	s.failN, s.failCode = n, status
	s.mu.Unlock()
}

// SetLatency delays every answer by d (0 to stop). A request whose client
// gives up first is abandoned without being applied.
func (s *Server) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }

// Requests returns how many requests each operation received, keyed like
// "transit/decrypt", "kv/read", "kv/write", "kv/list", "approle/login".
// Requests refused (403, sealed, injected faults) are counted too.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Total is the sum of Requests.
func (s *Server) Total() int {
	n := 0
	for _, v := range s.Requests() {
		n += v
	}
	return n
}

// ServeHTTP routes a request the way Vault does for the paths emulated.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, found := strings.CutPrefix(r.URL.Path, "/v1/")
	if !found {
		fail(w, http.StatusNotFound)
		return
	}
	method := r.Method
	if method == http.MethodGet && r.URL.Query().Get("list") == "true" {
		method = "LIST"
	}
	if method == http.MethodPut {
		method = http.MethodPost // Vault treats PUT and POST alike
	}
	rt := s.route(method, path)
	s.mu.Lock()
	s.counts[rt.op]++
	latency := s.latency
	s.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}

	s.mu.Lock()
	sealed := s.sealed
	injected := 0
	if s.failN > 0 {
		s.failN--
		injected = s.failCode
	}
	s.mu.Unlock()

	if rt.op == "sys/health" {
		s.health(w, r, sealed)
		return
	}
	switch {
	case sealed:
		fail(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	case injected != 0:
		fail(w, injected, http.StatusText(injected)+" (injected by vaultemu)")
		return
	case rt.handle == nil:
		fail(w, http.StatusNotFound, "no handler for route \""+path+"\". route entry not found.")
		return
	}
	if !rt.unauthenticated {
		tok := r.Header.Get("X-Vault-Token")
		if tok == "" {
			tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if !s.allowed(tok, path) {
			denied(w)
			return
		}
	}
	rt.handle(w, r, rt.arg)
}

// route is one matched request.
type route struct {
	op              string
	arg             string
	unauthenticated bool
	handle          func(http.ResponseWriter, *http.Request, string)
}

func (s *Server) route(method, path string) route {
	tm, km := s.opts.TransitMount+"/", s.opts.KVMount+"/"
	switch {
	case path == "sys/health" && method == http.MethodGet:
		return route{op: "sys/health", unauthenticated: true}
	case path == "auth/approle/login" && method == http.MethodPost:
		return route{op: "approle/login", unauthenticated: true, handle: s.appRoleLogin}
	case path == "auth/token/lookup-self" && method == http.MethodGet:
		return route{op: "token/lookup-self", handle: s.lookupSelf}
	case strings.HasPrefix(path, tm):
		rest := strings.TrimPrefix(path, tm)
		if name, ok := strings.CutPrefix(rest, "keys/"); ok && method == http.MethodPost {
			if n, ok := strings.CutSuffix(name, "/rotate"); ok {
				return route{op: "transit/rotate", arg: n, handle: s.transitRotate}
			}
			return route{op: "transit/create", arg: name, handle: s.transitCreate}
		}
		if name, ok := strings.CutPrefix(rest, "encrypt/"); ok && method == http.MethodPost {
			return route{op: "transit/encrypt", arg: name, handle: s.transitEncrypt}
		}
		if name, ok := strings.CutPrefix(rest, "decrypt/"); ok && method == http.MethodPost {
			return route{op: "transit/decrypt", arg: name, handle: s.transitDecrypt}
		}
	case strings.HasPrefix(path, km):
		rest := strings.TrimPrefix(path, km)
		if p, ok := strings.CutPrefix(rest, "data/"); ok {
			switch method {
			case http.MethodGet:
				return route{op: "kv/read", arg: p, handle: s.kvRead}
			case http.MethodPost:
				return route{op: "kv/write", arg: p, handle: s.kvWrite}
			}
		}
		if p, ok := strings.CutPrefix(rest, "destroy/"); ok && method == http.MethodPost {
			return route{op: "kv/destroy-versions", arg: p, handle: s.kvDestroyVersions}
		}
		if p, ok := strings.CutPrefix(rest, "metadata/"); ok {
			switch method {
			case "LIST":
				return route{op: "kv/list", arg: p, handle: s.kvList}
			case http.MethodGet:
				return route{op: "kv/metadata", arg: p, handle: s.kvMetadata}
			case http.MethodDelete:
				return route{op: "kv/destroy", arg: p, handle: s.kvDestroy}
			}
		}
	}
	return route{op: "unknown"}
}

// health answers sys/health; like Vault it lets the caller choose the
// status of a sealed answer with ?sealedcode= (Vault's client asks for 299).
func (s *Server) health(w http.ResponseWriter, r *http.Request, sealed bool) {
	status := http.StatusOK
	if sealed {
		status = http.StatusServiceUnavailable
		if c, err := strconv.Atoi(r.URL.Query().Get("sealedcode")); err == nil && c >= 200 && c < 600 {
			status = c
		}
	}
	writeJSON(w, status, map[string]any{
		"initialized": true, "sealed": sealed, "standby": false,
		"server_time_utc": s.now().Unix(), "version": "1.15.0+vaultemu", "cluster_name": "vaultemu",
	})
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure Start. The zero value gives a plain-TCP cluster in a
// new temporary directory on a free port.
type Options struct {
	BinDir   string            // default: $PG_BIN, else /usr/lib/postgresql/15/bin
	Dir      string            // parent dir for data+socket (must not hold them yet; kept by Stop); default a new temp dir (removed by Stop)
	Port     int               // 0 = pick a free port on 127.0.0.1
	TLS      bool              // generate a CA and a server cert for localhost/127.0.0.1/::1, ssl=on
	HBA      []string          // pg_hba.conf lines; default DefaultHBA
	Settings map[string]string // extra postgresql.conf settings; they override ours
	Password string            // password of superuser "postgres"; default random hex
	Log      io.Writer         // optional copy of server log output
	// Reuse starts the data directory an earlier Start left in Dir (a
	// caller's Dir, which Stop keeps) instead of running initdb, when Dir
	// holds one; Password must then be the one it was made with. Benchmarks
	// use it to keep a generated dataset from run to run.
	Reuse bool

	pickPort func() (int, error) // tests use it to force a port conflict; default freePort
}

// Cluster is a running server. Its exported fields are read-only.
type Cluster struct {
	Host, SocketDir, Dir, Superuser, Password string
	Port                                      int
	CA                                        *CA // nil unless Options.TLS

	DataDir string // the PostgreSQL data directory, inside Dir
	CAFile  string // PEM file of CA, for sslrootcert; "" unless Options.TLS
	// ServerCertFile and ServerKeyFile are the server's own certificate and
	// key ("" unless Options.TLS), for a proxy that must present the very
	// same certificate (SCRAM channel binding through a proxy).
	ServerCertFile, ServerKeyFile string
	LogFile                       string // the server's log, inside Dir; kept until Stop removes Dir

	log     *os.File
	ownsDir bool
	// What Restart needs to start the same server again.
	binDir string
	user   *osUser
	logw   io.Writer

	mu      sync.Mutex // guards srv and stopped against Restart racing Stop
	srv     *server
	stopped bool

	stopOnce sync.Once
	stopErr  error
}

const (
	defaultBinDir = "/usr/lib/postgresql/15/bin"
	superuser     = "postgres"
	// Used when ctx has no deadline, so a wedged start-up fails the test
	// instead of hanging it until the go test timeout.
	defaultStartTimeout = time.Minute
	stopGrace           = 30 * time.Second
	// A port picked by freePort can be taken before postgres binds it.
	portAttempts = 5
	// sockaddr_un.sun_path is 108 bytes; postgres refuses longer paths.
	maxSocketPath = 107
)

// Start creates and starts a new cluster. On error nothing is left running
// and a directory Start created is removed; the error includes the tail of
// the server log when the server itself failed.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	binDir := opts.BinDir
	if binDir == "" {
		binDir = os.Getenv("PG_BIN")
	}
	if binDir == "" {
		binDir = defaultBinDir
	}
	if _, err := os.Stat(filepath.Join(binDir, "postgres")); err != nil {
		return nil, fmt.Errorf("no PostgreSQL server binaries in %s (set Options.BinDir or PG_BIN): %w", binDir, err)
	}
	password := opts.Password
	if password == "" {
		if password, err = randomHex(16); err != nil {
			return nil, err
		}
	}
	hba := opts.HBA
	if len(hba) == 0 {
		hba = DefaultHBA
	}
	u, err := serverUser()
	if err != nil {
		return nil, err
	}

	c := &Cluster{Host: "127.0.0.1", Superuser: superuser, Password: password, binDir: binDir, user: u}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	reused, err := c.makeDirs(opts.Dir, opts.Reuse, u)
	if err != nil {
		return nil, err
	}
	if !reused {
		if err := c.initdb(ctx, binDir, u); err != nil {
			return nil, err
		}
	}
	if opts.TLS {
		if err := c.setupTLS(u); err != nil {
			return nil, err
		}
	}
	if err := writeHBA(c.DataDir, hba); err != nil {
		return nil, err
	}
	base, err := os.ReadFile(filepath.Join(c.DataDir, "postgresql.conf"))
	if err != nil {
		return nil, err
	}
	// A reused directory's file already holds our settings of last time.
	base, _, _ = bytes.Cut(base, []byte(addedMark))
	c.LogFile = filepath.Join(c.Dir, "postgres.log")
	if c.log, err = os.OpenFile(c.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	c.logw = c.log
	if opts.Log != nil {
		c.logw = io.MultiWriter(c.log, opts.Log)
	}

	for attempt := 1; ; attempt++ {
		c.Port = opts.Port
		if c.Port == 0 {
			pick := opts.pickPort
			if pick == nil {
				pick = freePort
			}
			if c.Port, err = pick(); err != nil {
				return nil, err
			}
		}
		ours := serverSettings(c.Port, c.SocketDir)
		if opts.TLS {
			ours["ssl"] = "on"
			ours["ssl_cert_file"] = "server.crt"
			ours["ssl_key_file"] = "server.key"
			ours["ssl_ca_file"] = "root.crt"
		}
		if err := writeConfig(c.DataDir, base, ours, opts.Settings); err != nil {
			return nil, err
		}
		logStart, _ := c.log.Seek(0, io.SeekEnd)
		if c.srv, err = startServer(binDir, c.DataDir, u, c.logw); err != nil {
			return nil, err
		}
		err = c.srv.waitReady(ctx, c.SocketDir, c.Port, superuser, password)
		if err == nil {
			return c, nil
		}
		c.srv.stop(stopGrace)
		log := c.readLog(logStart)
		if errors.Is(err, errExited) && opts.Port == 0 && attempt < portAttempts &&
			strings.Contains(log, "Address already in use") {
			continue
		}
		return nil, fmt.Errorf("%v; server log:\n%s", err, tail([]byte(log), 20))
	}
}

// makeDirs lays out Dir as data/ (owned by the server user, as initdb
// demands), socket/ and the log and CA files (owned by us). With reuse and
// a data directory already in Dir it leaves them as they are and says so.
func (c *Cluster) makeDirs(dir string, reuse bool, u *osUser) (reused bool, err error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "pgcluster-")
		if err != nil {
			return false, err
		}
		dir, c.ownsDir = d, true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return false, err
	}
	c.Dir = dir
	c.DataDir = filepath.Join(dir, "data")
	c.SocketDir = filepath.Join(dir, "socket")
	if n := len(c.SocketDir) + len("/.s.PGSQL.65535"); n > maxSocketPath {
		return false, fmt.Errorf("socket path under %s is %d bytes, longer than the %d Unix sockets allow; use a shorter Options.Dir", dir, n, maxSocketPath)
	}
	if err := u.makeSearchable(dir); err != nil {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "PG_VERSION")); reuse && !c.ownsDir && err == nil {
		return true, nil
	}
	for _, d := range []string{c.DataDir, c.SocketDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return false, err
		}
		if err := u.chown(d); err != nil {
			return false, err
		}
	}
	return false, nil
}

func (c *Cluster) initdb(ctx context.Context, binDir string, u *osUser) error {
	// The password goes through a file, not the command line, so it does
	// not show in ps; the file is gone before the server starts.
	pwfile := filepath.Join(c.Dir, "pwfile")
	if err := writeFile(pwfile, []byte(c.Password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := u.chown(pwfile); err != nil {
		return err
	}
	return initdb(ctx, binDir, c.DataDir, pwfile, superuser, u)
}

// setupTLS puts the server's certificate and key in the data directory,
// where relative ssl_*_file settings resolve and where the server user owns
// them (postgres refuses a key it does not own or that others can read),
// and a copy of the CA certificate in Dir for clients.
func (c *Cluster) setupTLS(u *osUser) error {
	ca, err := NewCA("pgcluster test CA")
	if err != nil {
		return err
	}
	certFile, keyFile, err := ca.WriteFiles(c.DataDir, "server", "localhost", []string{"localhost", "127.0.0.1", "::1"}, false)
	if err != nil {
		return err
	}
	rootFile := filepath.Join(c.DataDir, "root.crt")
	if err := ca.WriteCAFile(rootFile); err != nil {
		return err
	}
	if err := u.chown(certFile, keyFile, rootFile); err != nil {
		return err
	}
	c.ServerCertFile, c.ServerKeyFile = certFile, keyFile
	c.CAFile = filepath.Join(c.Dir, "ca.crt")
	if err := ca.WriteCAFile(c.CAFile); err != nil {
		return err
	}
	c.CA = ca
	return nil
}

func (c *Cluster) readLog(from int64) string {
	b, err := os.ReadFile(c.LogFile)
	if err != nil || from > int64(len(b)) {
		return ""
	}
	return string(b[from:])
}

// Stop shuts the server down fast (SIGINT), waits for it and removes Dir if
// Start created it. It is safe to call more than once and from a deferred
// call after a failed Start; later calls return the first result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		c.mu.Lock()
		srv := c.srv
		c.stopped = true
		c.mu.Unlock()
		if srv != nil {
			errs = append(errs, srv.stop(stopGrace))
		}
		if c.log != nil {
			errs = append(errs, c.log.Close())
		}
		if c.ownsDir && c.Dir != "" {
			errs = append(errs, os.RemoveAll(c.Dir))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// Addr is the TCP address the server listens on.
func (c *Cluster) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// URL returns a postgres:// URL for a plain TCP connection to the cluster.
func (c *Cluster) URL(user, password, database string) string {
	return c.url(user, password, database, url.Values{"sslmode": {"disable"}})
}

// TLSURL is like URL but requires TLS and verifies the server certificate
// against the cluster's CA, as a careful production client would. It is
// only meaningful when the cluster was started with Options.TLS.
func (c *Cluster) TLSURL(user, password, database string) string {
	return c.url(user, password, database, url.Values{"sslmode": {"verify-full"}, "sslrootcert": {c.CAFile}})
}

func (c *Cluster) url(user, password, database string, q url.Values) string {
	u := url.URL{Scheme: "postgres", Host: c.Addr(), Path: "/" + database, RawQuery: q.Encode()}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

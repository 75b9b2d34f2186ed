package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/phiguard/phiguard/config"
)

// clientTLSConfig builds the TLS configuration phiguard presents to
// applications, or nil when no certificate is configured.
func clientTLSConfig(c config.ClientTLS) (*tls.Config, error) {
	if c.Cert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("tls.cert: %w", err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// "postgresql" lets PostgreSQL 17 clients use sslnegotiation=direct.
		NextProtos: []string{"postgresql"},
	}
	if c.ClientCA != "" {
		pool, err := loadCAPool(c.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// backendTLSConfig builds the TLS configuration for connections to the
// backend, or nil in mode disable. Like libpq, mode require checks the
// certificate chain only when a root CA is given, and verify-full also
// checks the host name.
func backendTLSConfig(b config.Backend) (*tls.Config, error) {
	if b.TLS.Mode == config.BackendTLSDisable {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: b.Host}
	if b.TLS.ServerName != "" {
		cfg.ServerName = b.TLS.ServerName
	}
	if b.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(b.TLS.Cert, b.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("backend.tls.cert: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	var pool *x509.CertPool
	if b.TLS.RootCA != "" {
		p, err := loadCAPool(b.TLS.RootCA)
		if err != nil {
			return nil, fmt.Errorf("backend.tls.root_ca: %w", err)
		}
		pool = p
	}
	switch {
	case b.TLS.Mode == config.BackendTLSVerifyFull:
		cfg.RootCAs = pool
	case pool != nil: // require with a CA: verify the chain, not the name
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = verifyChainOnly(pool)
	default: // require without a CA: encryption only, as libpq does
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

func verifyChainOnly(pool *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return fmt.Errorf("backend presented no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
		return err
	}
}

func loadCAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
